#!/usr/bin/env bash
# Build the files the EMR cluster and its steps need and, given an S3 prefix, upload them.
#   spark/emr/package.sh [-o OUT] [s3://bucket/dynab/jobs]
# Produces in OUT (default build/emr):
#   dynab.zip             the services and spark packages (spark-submit --py-files)
#   entry.py              the entry point the step runs (reads the MongoDB URI from a secret)
#   bootstrap.sh          the bootstrap action: python3.11 and the dependencies on every node
#   requirements-emr.txt  the job's dependencies: pyproject's core and spark extra, less pyspark
#   constraints-emr.txt   their versions (spark/emr/constraints.txt)
set -euo pipefail
here="$(cd "$(dirname "$0")/../.." && pwd)"
out="$here/build/emr"
if [[ "${1:-}" == "-o" ]]; then out="$(mkdir -p "$2" && cd "$2" && pwd)"; shift 2; fi
rm -rf "$out" && mkdir -p "$out"
cd "$here"
# Python bytecode and tests stay out; pyspark is on the cluster already.
find services spark -name '*.py' -not -path '*/__pycache__/*' -print | sort \
  | zip -q -X "$out/dynab.zip" -@
cp spark/emr/entry.py "$out/entry.py"
cp spark/emr/bootstrap.sh "$out/bootstrap.sh"
cp spark/emr/constraints.txt "$out/constraints-emr.txt"
python3 - "$out/requirements-emr.txt" <<'PY'
import re, sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
deps = project["dependencies"] + project["optional-dependencies"]["spark"]
names = []
for dep in deps:
    name = re.match(r"[A-Za-z0-9_.-]+", dep).group(0)
    if name.lower() != "pyspark" and dep not in names:
        names.append(dep)
open(sys.argv[1], "w").write("\n".join(names) + "\n")
PY
echo "built $out: dynab.zip ($(unzip -l "$out/dynab.zip" | tail -1 | awk '{print $2}') files)," \
  "entry.py, bootstrap.sh, requirements-emr.txt, constraints-emr.txt"
if [[ $# -ge 1 ]]; then
  for f in dynab.zip entry.py bootstrap.sh requirements-emr.txt constraints-emr.txt; do
    aws s3 cp --quiet "$out/$f" "$1/$f"
  done
  echo "uploaded to $1"
fi
