"""The EMR path: the cluster and step run Python 3.11, and the packaged job runs from its zip.

On EMR the interpreter is ``/usr/bin/python3.11`` (installed by the bootstrap action); here the
interpreter the configuration names is replaced by the project's own Python, and the job runs
through ``spark-submit --py-files dynab.zip`` against the embedded MongoDB, reading its URI from
an SSM SecureString served by moto over HTTP -- the step's real path, minus YARN and S3.
``make test-emr`` runs these tests again under Spark 3.5 (EMR 7.x's Spark).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
from pymongo.database import Database

from services.clock import FixedClock, floor_hour, utc_now
from services.events import EventLogWriter
from services.experiments import ExperimentType
from services.lifecycle import Action
from services.mongo import schema
from services.mongo.embedded import EmbeddedMongo
from services.mongo.repository import MongoStore
from services.traffic import ArmSpec, TrafficConfig, generate
from tests.foundation import factories
from tests.ops.conftest import dummy_aws, moto_endpoint  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parents[2]
EMR = ROOT / "spark" / "emr"
PYTHON = "/usr/bin/python3.11"


def step_args() -> list[str]:
    (step,) = json.loads((EMR / "step.json").read_text())
    return step["Args"]


def confs(args: list[str]) -> dict[str, str]:
    return dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "--conf")


def test_the_cluster_and_the_step_name_python_3_11() -> None:
    configurations = {
        c["Classification"]: c for c in json.loads((EMR / "configurations.json").read_text())
    }
    (export,) = configurations["spark-env"]["Configurations"]
    assert export["Classification"] == "export"
    assert export["Properties"]["PYSPARK_PYTHON"] == PYTHON
    assert export["Properties"]["PYSPARK_DRIVER_PYTHON"] == PYTHON
    defaults = configurations["spark-defaults"]["Properties"]
    for key in (
        "spark.pyspark.python",
        "spark.pyspark.driver.python",
        "spark.yarn.appMasterEnv.PYSPARK_PYTHON",
        "spark.executorEnv.PYSPARK_PYTHON",
    ):
        assert defaults[key] == PYTHON, key
    # The step says it too, so that it runs right even on a cluster configured otherwise.
    step = confs(step_args())
    assert step["spark.pyspark.python"] == PYTHON
    assert step["spark.yarn.appMasterEnv.PYSPARK_PYTHON"] == PYTHON
    assert step["spark.executorEnv.PYSPARK_PYTHON"] == PYTHON
    # The bootstrap installs that interpreter and the job's dependencies into it.
    bootstrap = (EMR / "bootstrap.sh").read_text()
    assert "dnf install -y -q python3.11" in bootstrap
    assert f"sudo {PYTHON} -m pip install" in bootstrap


def test_the_step_carries_no_password() -> None:
    args = step_args()
    assert "--mongodb-uri" not in args
    assert not any("MONGODB_URI" in a or re.search(r"//[^/]*:[^/]*@", a) for a in args)
    assert args[args.index("--mongodb-uri-secret") + 1].startswith("arn:aws:secretsmanager:")
    assert args[args.index("--py-files") + 1].endswith("/dynab.zip")
    assert any(a.endswith("/entry.py") for a in args)


@pytest.mark.parametrize(
    ("release", "accepted"),
    [("emr-6.15.0", False), ("emr-7.0.0", False), ("emr-7.1.0", True), ("emr-7.12.0", True)],
)
def test_create_cluster_requires_emr_7_1(tmp_path: Path, release: str, accepted: bool) -> None:
    # A stand-in `aws` on PATH records the call instead of creating a cluster.
    fake = tmp_path / "aws"
    fake.write_text('#!/bin/sh\necho "$@" > "$(dirname "$0")/called"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "DYNAB_EMR_RELEASE": release}
    result = subprocess.run(
        ["bash", str(EMR / "create-cluster.sh"), "s3://b/jobs", "subnet-1", "s3://b/logs"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert (result.returncode == 0) is accepted, result.stderr
    if accepted:
        called = (tmp_path / "called").read_text()
        assert f"--release-label {release}" in called
        assert "configurations.json" in called and "Path=s3://b/jobs/bootstrap.sh" in called


def package(out: Path) -> Path:
    result = subprocess.run(
        ["bash", str(EMR / "package.sh"), "-o", str(out)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return out


def test_the_package_holds_the_job_and_its_requirements(tmp_path: Path) -> None:
    out = package(tmp_path / "emr")
    names = set(zipfile.ZipFile(out / "dynab.zip").namelist())
    assert {"services/clock.py", "spark/update_params.py", "spark/emr/entry.py"} <= names
    assert not [n for n in names if n.endswith(".pyc") or n.startswith("tests/")]
    requirements = (out / "requirements-emr.txt").read_text()
    assert "scipy" in requirements and "pymongo" in requirements
    assert "pyspark" not in requirements  # the cluster's own Spark
    assert "pyspark==3.5." in (out / "constraints-emr.txt").read_text()


@pytest.mark.spark
@pytest.mark.slow
def test_the_zipped_job_runs_its_entry_point_with_the_uri_from_ssm(
    tmp_path: Path,
    mongo_server: EmbeddedMongo,
    mongo_db: Database,
    moto_endpoint: str,  # noqa: F811 (the fixture)
) -> None:
    spark_submit = Path(sys.executable).with_name("spark-submit")
    if not spark_submit.exists() or not shutil.which("java"):
        pytest.skip("needs pyspark's spark-submit and Java")
    # GIVEN the package, a static test running since three hours ago with two hours of traffic,
    # and the MongoDB URI only in SSM
    out = package(tmp_path / "emr")
    start = floor_hour(utc_now()) - timedelta(hours=3)
    store = MongoStore(mongo_db, FixedClock(start))
    store.save_area(factories.area("DETAIL", "S-1"))
    exp = store.create_experiment(
        factories.experiment(
            experiment_id="EXP-EMR",
            area_code="DETAIL",
            type=ExperimentType.STATIC,
            arms=factories.arms("S-1", "S-2"),
        ),
        by="test",
    )
    store.apply_action(exp.experiment_id, Action.START, expected_version=1, by="test")
    arms = (
        ArmSpec("EXP-EMR", "DETAIL", "S-1", 0.05, 0.0),
        ArmSpec("EXP-EMR", "DETAIL", "S-2", 0.05, 0.0),
    )
    with EventLogWriter(tmp_path / "events", writer_id="t") as writer:
        generate(TrafficConfig(arms, start, hours=2, requests_per_hour=200, seed=3), writer)
    boto3.client("ssm", endpoint_url=moto_endpoint).put_parameter(
        Name="/dynab/mongodb-uri",
        Value=f"{mongo_server.uri}{mongo_db.name}",
        Type="SecureString",
        Overwrite=True,  # moto keeps one state per process, shared by every test module
    )
    # WHEN spark-submit runs the step's entry point with the zip, under the interpreter the
    # EMR configuration names -- here the project's Python -- from a folder without the sources
    env = {
        **os.environ,
        "PYSPARK_PYTHON": sys.executable,
        "PYSPARK_DRIVER_PYTHON": sys.executable,
        "SPARK_LOCAL_IP": "127.0.0.1",
        "AWS_ENDPOINT_URL": moto_endpoint,
    }
    env.pop("MONGODB_URI", None)
    env.pop("PYTHONPATH", None)
    batch_end = start + timedelta(hours=3)
    result = subprocess.run(
        [
            str(spark_submit),
            "--master",
            "local[1]",
            "--conf",
            "spark.ui.enabled=false",
            "--conf",
            "spark.sql.shuffle.partitions=2",
            "--conf",
            "spark.sql.session.timeZone=UTC",
            "--py-files",
            str(out / "dynab.zip"),
            str(out / "entry.py"),
            "--mongodb-uri-ssm",
            "/dynab/mongodb-uri",
            "--input",
            str(tmp_path / "events"),
            "--batch-end",
            f"{batch_end:%Y-%m-%dT%H}",
        ],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # THEN the job ran and wrote the hours it read, and the indexes exist
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    hours = {(m.model_code, m.hour) for m in store.hourly_metrics("EXP-EMR")}
    assert {h for _, h in hours} == {start, start + timedelta(hours=1)}
    assert {m for m, _ in hours} == {"S-1", "S-2"}
    indexes = [list(i["key"]) for i in mongo_db[schema.HOURLY_METRICS].list_indexes()]
    assert ["experiment_id", "hour", "model_code"] in indexes
    # AND the packages came from the zip: the interpreter finds them there first
    probe = subprocess.run(
        [sys.executable, "-c", "import services, spark; print(services.__file__, spark.__file__)"],
        cwd=out,
        env={**env, "PYTHONPATH": str(out / "dynab.zip")},
        capture_output=True,
        text=True,
    )
    assert probe.stdout.count("dynab.zip") == 2, probe.stdout + probe.stderr


def load_entry():
    import importlib.util

    spec = importlib.util.spec_from_file_location("dynab_emr_entry", EMR / "entry.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_entry_point_refuses_a_uri_on_its_command_line(capsys) -> None:
    entry = load_entry()
    with pytest.raises(SystemExit) as exit_info:
        entry.main(["--mongodb-uri", "mongodb://u:p@h/db", "--input", "s3://b/e"])
    assert exit_info.value.code == 2
    assert "would put the password in the step's arguments" in capsys.readouterr().err


def test_an_unreadable_secret_is_one_line_and_exit_2(
    capsys,
    monkeypatch: pytest.MonkeyPatch,
    moto_endpoint: str,  # noqa: F811 (the fixture)
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.delenv("MONGODB_URI", raising=False)
    code = load_entry().main(["--mongodb-uri-ssm", "/dynab/nothing", "--input", "s3://b/e"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and "cannot read SSM parameter /dynab/nothing" in err[0]
    assert "MONGODB_URI" not in os.environ
