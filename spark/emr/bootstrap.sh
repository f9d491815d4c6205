#!/bin/bash
# EMR bootstrap action: Python 3.11 and the parameter job's dependencies on every node.
#   --bootstrap-actions Name=dynab-python,Path=s3://BUCKET/dynab/jobs/bootstrap.sh,Args=[s3://BUCKET/dynab/jobs]
# EMR 7.x runs Amazon Linux 2023, whose python3 is 3.9: too old for dynab (3.11+). AL2023 ships
# python3.11 as a package; the job's dependencies are installed into that interpreter at the
# versions of constraints-emr.txt (uploaded beside this script by package.sh), and the cluster
# configuration (configurations.json) makes Spark run /usr/bin/python3.11.
set -euo pipefail
jobs="${1:?usage: bootstrap.sh s3://bucket/prefix (where package.sh uploaded the job)}"
sudo dnf install -y -q python3.11 python3.11-pip
work="$(mktemp -d)"
aws s3 cp --quiet "$jobs/requirements-emr.txt" "$work/requirements-emr.txt"
aws s3 cp --quiet "$jobs/constraints-emr.txt" "$work/constraints-emr.txt"
sudo /usr/bin/python3.11 -m pip install --quiet --disable-pip-version-check \
  -r "$work/requirements-emr.txt" -c "$work/constraints-emr.txt"
# Fail the bootstrap (and so the cluster start) now rather than the first step later.
/usr/bin/python3.11 -c "import numpy, scipy, pandas, pymongo, aws_lambda_powertools"
echo "dynab bootstrap: python3.11 ready with the job's dependencies"
