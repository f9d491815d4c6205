#!/usr/bin/env bash
# Build the files an EMR step needs and, given an S3 prefix, upload them.
#   spark/emr/package.sh [s3://bucket/dynab/jobs]
# Produces build/emr/dynab.zip (the services and spark packages, for --py-files) and
# build/emr/update_params.py (the entry point spark-submit runs).
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
out="$here/build/emr"
rm -rf "$out" && mkdir -p "$out"
cd "$here"
# Python bytecode and tests stay out; pyspark is on the cluster already.
find services spark -name '*.py' -not -path '*/__pycache__/*' -print | sort \
  | zip -q -X "$out/dynab.zip" -@
cp spark/update_params.py "$out/update_params.py"
echo "built $out/dynab.zip ($(unzip -l "$out/dynab.zip" | tail -1 | awk '{print $2}') files)"
if [[ $# -ge 1 ]]; then
  aws s3 cp "$out/dynab.zip" "$1/dynab.zip"
  aws s3 cp "$out/update_params.py" "$1/update_params.py"
  echo "uploaded to $1"
fi
