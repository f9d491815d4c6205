"""The Lambda function itself: ``lambda/selector/app.py`` with a fake LambdaContext.

The handler runs for real against the embedded MongoDB; only the LambdaContext is a stand-in
(nothing but the Lambda runtime can make a real one).
"""

from __future__ import annotations

import importlib.util
import json
import socket
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest
from pymongo.database import Database

from services.mongo.embedded import EmbeddedMongo
from services.mongo.repository import MongoStore
from services.serving import runtime
from tests.serving.conftest import start_experiment

APP = Path(__file__).resolve().parents[2] / "lambda" / "selector" / "app.py"


@dataclass
class FakeLambdaContext:
    function_name: str = "dynab-selector"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:dynab-selector"
    aws_request_id: str = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name: str = "/aws/lambda/dynab-selector"
    log_stream_name: str = "2026/11/28/[$LATEST]abc"

    def get_remaining_time_in_millis(self) -> int:
        return 3000


def load_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dynab_selector_app", APP)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def app(
    mongo_server: EmbeddedMongo, mongo_db: Database, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ModuleType]:
    monkeypatch.setenv("MONGODB_URI", mongo_server.uri)
    monkeypatch.setenv("MONGODB_DB", mongo_db.name)
    monkeypatch.setenv("DYNAB_AREA_DEFAULTS", '{"*": "SITE-POPULAR-01"}')
    runtime.reset()
    yield load_app()
    runtime.reset()


@pytest.fixture
def stored(mongo_db: Database) -> MongoStore:
    store = MongoStore(mongo_db)
    store.ensure_indexes()
    start_experiment(store)
    return store


def lines(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines() if line.startswith("{")]


def test_rest_proxy_event(capsys, app: ModuleType, stored: MongoStore) -> None:
    # Python loggers are process-wide: the Powertools handler keeps the stdout it found when the
    # first test made it, so point it at this test's captured stdout.
    app.logger.registered_handler.stream = sys.stdout
    event = {
        "resource": "/select",
        "httpMethod": "GET",
        "queryStringParameters": {"member_id": "member-4711", "area_code": "MAIN"},
        "multiValueQueryStringParameters": {"member_id": ["member-4711"], "area_code": ["MAIN"]},
        "requestContext": {"requestId": "r-1"},
    }
    result = app.handler(event, FakeLambdaContext())
    assert result["statusCode"] == 200
    assert result["headers"]["Content-Type"] == "application/json"
    body = json.loads(result["body"])
    assert body["experiment_id"] == "EXP-01" and body["reason"] == "warmup"
    out = capsys.readouterr().out
    records = lines(out)
    # One JSON log line for the selection, with the model code at the top level ...
    (log,) = [r for r in records if r.get("message") == "selection"]
    assert log["model_code"] == body["model_code"]
    assert log["function_request_id"] == FakeLambdaContext.aws_request_id
    assert "member-4711" not in out
    # ... and an EMF blob counting the model served.
    (emf,) = [r for r in records if "_aws" in r]
    assert emf["ModelServed"] == [1.0] or emf["ModelServed"] == 1.0
    assert emf["model_code"] == body["model_code"] and emf["area_code"] == "MAIN"
    assert emf["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "dynab"


def test_mapping_template_event(app: ModuleType, stored: MongoStore) -> None:
    result = app.handler({"member_id": "1001", "area_code": "MAIN"}, FakeLambdaContext())
    assert result["statusCode"] == 200
    assert json.loads(result["body"])["model_code"] in ("EXP-01-APS002-01", "EXP-01-NCF-01")


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        (None, "member_id"),
        ({"area_code": "MAIN"}, "member_id"),
        ({"member_id": "1"}, "area_code"),
        ({"member_id": "1", "area_code": "$where"}, "area_code"),
    ],
)
def test_bad_request_is_400_naming_the_parameter(
    app: ModuleType, stored: MongoStore, params, parameter: str
) -> None:
    result = app.handler({"queryStringParameters": params}, FakeLambdaContext())
    assert result["statusCode"] == 400
    body = json.loads(result["body"])
    assert body["parameter"] == parameter and body["error"].startswith(parameter)


def test_unknown_area_is_404(app: ModuleType, stored: MongoStore) -> None:
    result = app.handler({"member_id": "1", "area_code": "NOPE"}, FakeLambdaContext())
    assert result["statusCode"] == 404
    assert "NOPE" in json.loads(result["body"])["error"]


def test_unconfigured_selector_answers_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MONGODB_URI", raising=False)
    monkeypatch.delenv("MONGODB_URI_SSM_PARAMETER", raising=False)
    runtime.reset()
    result = load_app().handler({"member_id": "1", "area_code": "MAIN"}, FakeLambdaContext())
    runtime.reset()
    assert result["statusCode"] == 503
    assert "MONGODB_URI" in json.loads(result["body"])["error"]


def test_xray_subsegments_for_configuration_and_selection(
    app: ModuleType, stored: MongoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the Lambda environment with tracing on and a UDP socket standing in for the X-Ray
    # daemon (the SDK's own transport, not a mock of it)
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(2)
    port = daemon.getsockname()[1]
    monkeypatch.setenv("AWS_XRAY_SDK_ENABLED", "true")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "dynab-selector")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", f"127.0.0.1:{port}")
    monkeypatch.setenv(
        "_X_AMZN_TRACE_ID",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    )
    from aws_xray_sdk import global_sdk_config
    from aws_xray_sdk.core import lambda_launcher, xray_recorder

    global_sdk_config.set_sdk_enabled(True)
    xray_recorder.configure(context=lambda_launcher.LambdaContext(), sampling=False)
    try:
        # WHEN one request is served
        result = app.handler({"member_id": "1", "area_code": "MAIN"}, FakeLambdaContext())
        names = set()
        try:
            while True:
                payload = daemon.recv(65536).decode()
                names.add(json.loads(payload.split("\n", 1)[1])["name"])
        except TimeoutError:
            pass
    finally:
        daemon.close()
        global_sdk_config.set_sdk_enabled(False)
    # THEN the daemon received both subsegments
    assert result["statusCode"] == 200
    assert {"load_configuration", "select_model"} <= names
