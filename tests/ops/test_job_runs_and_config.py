"""Job-run records in MongoDB, and the source configuration from the environment."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest

from services.exceptions import ValidationError
from services.ops.aws import AwsOpsSource
from services.ops.config import OpsConfig, build_source
from services.ops.embedded import EmbeddedOpsSource
from services.ops.job_runs import JobRun, JobRunLog

T0 = datetime(2026, 11, 28, 10, 0)


def test_runs_recorded_and_read_back_newest_first(mongo_db):
    log = JobRunLog(mongo_db)
    log.ensure_indexes()
    report = SimpleNamespace(
        batch_end=T0,
        events=1200,
        hourly_rows=48,
        batches=["EXP-01"],
        malformed_lines=3,
        seconds={"extract": 2.5, "load": 0.5},
    )
    first = JobRun.from_report(
        report,
        started_at=T0 + timedelta(minutes=1),
        finished_at=T0 + timedelta(minutes=1, seconds=30),
    )
    failed = JobRun.from_report(
        report,
        started_at=T0 + timedelta(hours=1),
        finished_at=T0 + timedelta(hours=1, seconds=5),
        error="boom",
    )
    log.record(first)
    log.record(failed)
    assert log.recent() == [failed, first]
    assert first.duration_seconds == 30.0
    assert failed.status == "failed" and failed.error == "boom"
    assert log.recent(limit=1) == [failed]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"status": "done"}, "status"),
        ({"events": -1}, "events"),
        ({"finished_at": T0 - timedelta(seconds=1)}, "finished_at"),
        ({"seconds": {"load": -1.0}}, "seconds.load"),
    ],
)
def test_invalid_runs_are_refused(changes, field):
    values = {"batch_end": T0, "started_at": T0, "finished_at": T0} | changes
    with pytest.raises(ValidationError) as info:
        JobRun(**values)
    assert info.value.field == field


def test_embedded_is_the_default(mongo_db):
    config = OpsConfig.from_env({})
    assert config.source == "embedded"
    assert isinstance(build_source(config, mongo_db), EmbeddedOpsSource)


def test_aws_configuration_builds_clients_on_the_endpoint():
    config = OpsConfig.from_env(
        {
            "DYNAB_OPS_SOURCE": "AWS",
            "DYNAB_API_NAME": "dynab-selector",
            "DYNAB_SELECTOR_LOG_GROUP": "/aws/lambda/dynab-selector",
            "AWS_REGION": "eu-west-1",
            "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
            "DYNAB_OPS_XRAY": "false",
            "DYNAB_OPS_INSIGHTS_TIMEOUT": "12",
        }
    )
    source = build_source(config)
    assert isinstance(source, AwsOpsSource)
    assert (source.api_name, source.stage, source.insights_timeout_seconds) == (
        "dynab-selector",
        "prod",
        12.0,
    )
    assert source.cloudwatch.meta.endpoint_url == "http://127.0.0.1:4566"
    assert source.logs.meta.region_name == "eu-west-1"
    assert source.xray is None


@pytest.mark.parametrize(
    ("env", "field"),
    [
        ({"DYNAB_OPS_SOURCE": "gcp"}, "DYNAB_OPS_SOURCE"),
        ({"DYNAB_OPS_SOURCE": "aws", "DYNAB_SELECTOR_LOG_GROUP": "g"}, "DYNAB_API_NAME"),
        ({"DYNAB_OPS_SOURCE": "aws", "DYNAB_API_NAME": "a"}, "DYNAB_SELECTOR_LOG_GROUP"),
        ({"DYNAB_OPS_INSIGHTS_TIMEOUT": "soon"}, "DYNAB_OPS_INSIGHTS_TIMEOUT"),
        ({"DYNAB_OPS_INSIGHTS_TIMEOUT": "0"}, "DYNAB_OPS_INSIGHTS_TIMEOUT"),
    ],
)
def test_bad_configuration_names_the_variable(env, field):
    with pytest.raises(ValidationError) as info:
        OpsConfig.from_env(env)
    assert info.value.field == field


def test_embedded_source_needs_the_database():
    with pytest.raises(ValidationError, match="db"):
        build_source(OpsConfig())


def test_aws_source_validates_itself():
    with pytest.raises(ValidationError, match="experiment_key"):
        AwsOpsSource(None, None, None, "api", "prod", "g", experiment_key="x | filter 1")
