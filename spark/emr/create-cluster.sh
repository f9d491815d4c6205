#!/usr/bin/env bash
# Start a long-running EMR cluster for the parameter job (see docs/deploy.md).
#   spark/emr/create-cluster.sh s3://BUCKET/dynab/jobs SUBNET_ID s3://BUCKET/dynab/emr-logs
# EMR 7.1 or later: Amazon Linux 2023 (python3.11 package) and Spark 3.5, the Spark the job is
# tested with (make test-emr). Override the release with DYNAB_EMR_RELEASE=emr-7.x.y.
set -euo pipefail
jobs="${1:?usage: create-cluster.sh s3://bucket/prefix SUBNET_ID s3://bucket/logs}"
subnet="${2:?subnet id}"
logs="${3:?s3 prefix for the cluster logs}"
release="${DYNAB_EMR_RELEASE:-emr-7.5.0}"
if ! [[ "$release" =~ ^emr-7\.([0-9]+)\. ]] || [ "${BASH_REMATCH[1]}" -lt 1 ]; then
  echo "create-cluster: dynab needs EMR 7.1 or later (7.x: Spark 3.5), got $release" >&2
  exit 2
fi
here="$(cd "$(dirname "$0")" && pwd)"
aws emr create-cluster \
  --name dynab-parameters \
  --release-label "$release" \
  --applications Name=Spark \
  --configurations "file://$here/configurations.json" \
  --bootstrap-actions "Name=dynab-python,Path=$jobs/bootstrap.sh,Args=[$jobs]" \
  --instance-groups InstanceGroupType=MASTER,InstanceCount=1,InstanceType=m5.xlarge \
                    InstanceGroupType=CORE,InstanceCount=2,InstanceType=m5.xlarge \
  --ec2-attributes "SubnetId=$subnet" \
  --use-default-roles \
  --log-uri "$logs"
