"""Notifiers: SNS against moto over real HTTP, the local one into the log, the env switch."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from datetime import datetime

import boto3
import pytest
from moto.server import ThreadedMotoServer

from services.exceptions import ValidationError
from services.guardrails.incidents import Incident
from services.guardrails.notify import LocalNotifier, SnsNotifier, notifier_from_env

REGION = "eu-west-1"

INCIDENT = Incident(
    incident_id="abc123",
    experiment_id="EXP-01",
    area_code="MAIN",
    rule="ctr_collapse",
    action="switch_off",
    severity="high",
    message="model switched off: M-A: CTR 1.000% vs control 5.000%",
    created_at=datetime(2026, 11, 20, 7),
    model_code="M-A",
    figures={"probability": 0.9999},
)


@pytest.fixture
def moto_endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_sns_delivers_the_incident_to_a_subscribed_queue(moto_endpoint: str) -> None:
    sns = boto3.client("sns", region_name=REGION, endpoint_url=moto_endpoint)
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=moto_endpoint)
    topic = sns.create_topic(Name="dynab-incidents")["TopicArn"]
    queue_url = sqs.create_queue(QueueName="ops")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    notifier = notifier_from_env({"DYNAB_NOTIFY": "sns", "DYNAB_SNS_TOPIC_ARN": topic}, client=sns)
    assert isinstance(notifier, SnsNotifier)
    notifier.notify(INCIDENT)
    messages = sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1)["Messages"]
    envelope = json.loads(messages[0]["Body"])
    assert envelope["Subject"] == "dynab high: EXP-01 switch_off (ctr_collapse)"
    body = json.loads(envelope["Message"])
    assert body["incident_id"] == "abc123" and body["figures"]["probability"] == 0.9999


def test_sns_to_a_missing_topic_fails_loudly(moto_endpoint: str) -> None:
    sns = boto3.client("sns", region_name=REGION, endpoint_url=moto_endpoint)
    notifier = SnsNotifier(f"arn:aws:sns:{REGION}:123456789012:nowhere", sns)
    with pytest.raises(sns.exceptions.NotFoundException):
        notifier.notify(INCIDENT)


def test_local_writes_one_json_line(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="dynab.incidents"):
        LocalNotifier().notify(INCIDENT)
    (record,) = caplog.records
    assert json.loads(record.getMessage())["created_at"] == "2026-11-20 07:00:00"


def test_the_environment_chooses_and_bad_settings_are_one_line_errors() -> None:
    assert isinstance(notifier_from_env({}), LocalNotifier)
    with pytest.raises(ValidationError, match="DYNAB_NOTIFY"):
        notifier_from_env({"DYNAB_NOTIFY": "pager"})
    with pytest.raises(ValidationError, match="DYNAB_SNS_TOPIC_ARN"):
        notifier_from_env({"DYNAB_NOTIFY": "sns"})
