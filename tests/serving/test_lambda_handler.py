"""The Lambda function itself: ``lambda/selector/app.py`` with a fake LambdaContext.

The handler runs for real against the embedded MongoDB, its secrets come from moto over HTTP;
only the LambdaContext is a stand-in (nothing but the Lambda runtime can make a real one).
"""

from __future__ import annotations

import hashlib
import hmac
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
from services.serving.handler import UNAVAILABLE
from tests.ops.conftest import dummy_aws, moto_endpoint  # noqa: F401 (fixtures)
from tests.serving.conftest import start_experiment

APP = Path(__file__).resolve().parents[2] / "lambda" / "selector" / "app.py"
KEY = "k" * 40


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
    monkeypatch.setenv("DYNAB_MEMBER_HASH_KEY", KEY)
    monkeypatch.setenv("DYNAB_CACHE_TTL_SECONDS", "300")
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
    # A client may keep its own answer as long as API Gateway's cache does, and only its own.
    assert result["headers"]["Cache-Control"] == "private, max-age=300"
    body = json.loads(result["body"])
    assert body["experiment_id"] == "EXP-01" and body["reason"] == "warmup"
    out = capsys.readouterr().out
    records = lines(out)
    # One JSON log line for the selection, with the model code at the top level ...
    (log,) = [r for r in records if r.get("message") == "selection"]
    assert log["model_code"] == body["model_code"]
    assert log["function_request_id"] == FakeLambdaContext.aws_request_id
    # API Gateway's request id ties the line to the API's access and execution logs.
    assert log["correlation_id"] == "r-1"
    # The member appears only as the HMAC under the configured key.
    expected = hmac.new(KEY.encode(), b"member-4711", hashlib.sha256).hexdigest()[:16]
    assert log["member_hash"] == expected
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
    assert result["headers"]["Cache-Control"] == "no-store"


def test_unknown_area_is_404(app: ModuleType, stored: MongoStore) -> None:
    result = app.handler({"member_id": "1", "area_code": "NOPE"}, FakeLambdaContext())
    assert result["statusCode"] == 404
    assert "NOPE" in json.loads(result["body"])["error"]


def test_the_service_is_built_at_init(app: ModuleType) -> None:
    # Loading the module (Lambda's init phase) built the service: no request has been served.
    assert runtime._service is not None
    assert app._init_error is None


def test_unconfigured_selector_answers_a_generic_503(
    capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MONGODB_URI", raising=False)
    monkeypatch.delenv("MONGODB_URI_SSM_PARAMETER", raising=False)
    monkeypatch.setenv("DYNAB_MEMBER_HASH_KEY", KEY)
    runtime.reset()
    module = load_app()
    module.logger.registered_handler.stream = sys.stdout
    result = module.handler({"member_id": "1", "area_code": "MAIN"}, FakeLambdaContext())
    runtime.reset()
    assert result["statusCode"] == 503
    assert json.loads(result["body"]) == UNAVAILABLE
    assert result["headers"]["Cache-Control"] == "no-store"
    # The reason is in the log, not in the answer.
    assert "MONGODB_URI" in capsys.readouterr().out


def test_without_a_member_hash_key_the_selector_does_not_start(
    capsys, mongo_server: EmbeddedMongo, mongo_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONGODB_URI", mongo_server.uri)
    for name in ("", "_SECRET", "_SSM_PARAMETER"):
        monkeypatch.delenv(f"DYNAB_MEMBER_HASH_KEY{name}", raising=False)
    runtime.reset()
    module = load_app()
    module.logger.registered_handler.stream = sys.stdout
    assert isinstance(module._init_error, runtime.SelectorNotConfiguredError)
    result = module.handler({"member_id": "1", "area_code": "MAIN"}, FakeLambdaContext())
    runtime.reset()
    assert result["statusCode"] == 503
    assert json.loads(result["body"]) == UNAVAILABLE
    assert "no member-hash key" in capsys.readouterr().out


def test_a_driver_error_is_not_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a URI whose SRV name cannot resolve (pymongo looks it up when the client is made)
    monkeypatch.setenv("MONGODB_URI", "mongodb+srv://dynab:secret@no-such-cluster.invalid/dynab")
    monkeypatch.setenv("DYNAB_MEMBER_HASH_KEY", KEY)
    runtime.reset()
    result = load_app().handler({"member_id": "1", "area_code": "MAIN"}, FakeLambdaContext())
    runtime.reset()
    # THEN the answer says nothing of hosts, users or the driver
    assert result["statusCode"] == 503
    assert json.loads(result["body"]) == UNAVAILABLE


def test_secrets_come_from_ssm_and_secrets_manager(
    capsys,
    moto_endpoint: str,  # noqa: F811 (the fixture)
    mongo_server: EmbeddedMongo,
    mongo_db: Database,
    stored: MongoStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the URI in an SSM SecureString and the key in Secrets Manager (moto over HTTP), and
    # only their names in the function's environment, as the template sets them
    import boto3

    ssm = boto3.client("ssm", endpoint_url=moto_endpoint)
    ssm.put_parameter(Name="/dynab/mongodb-uri", Value=mongo_server.uri, Type="SecureString")
    secret_key = "s" * 48
    arn = boto3.client("secretsmanager", endpoint_url=moto_endpoint).create_secret(
        Name="dynab-member-hash-key", SecretString=secret_key
    )["ARN"]
    monkeypatch.delenv("MONGODB_URI", raising=False)
    monkeypatch.delenv("DYNAB_MEMBER_HASH_KEY", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("MONGODB_URI_SSM_PARAMETER", "/dynab/mongodb-uri")
    monkeypatch.setenv("MONGODB_DB", mongo_db.name)
    monkeypatch.setenv("DYNAB_MEMBER_HASH_KEY_SECRET", arn)
    runtime.reset()
    module = load_app()
    module.logger.registered_handler.stream = sys.stdout
    # WHEN a request is served
    result = module.handler({"member_id": "m-1", "area_code": "MAIN"}, FakeLambdaContext())
    runtime.reset()
    # THEN it was answered from that MongoDB, hashing the member with that key
    assert result["statusCode"] == 200
    assert json.loads(result["body"])["experiment_id"] == "EXP-01"
    (log,) = [r for r in lines(capsys.readouterr().out) if r.get("message") == "selection"]
    assert log["member_hash"] == hmac.new(secret_key.encode(), b"m-1", "sha256").hexdigest()[:16]


def test_a_missing_secret_is_a_generic_503(
    capsys,
    moto_endpoint: str,  # noqa: F811 (the fixture)
    mongo_server: EmbeddedMongo,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MONGODB_URI", mongo_server.uri)
    monkeypatch.delenv("DYNAB_MEMBER_HASH_KEY", raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    monkeypatch.setenv("DYNAB_MEMBER_HASH_KEY_SECRET", "no-such-secret")
    runtime.reset()
    module = load_app()
    module.logger.registered_handler.stream = sys.stdout
    result = module.handler({"member_id": "1", "area_code": "MAIN"}, FakeLambdaContext())
    runtime.reset()
    assert result["statusCode"] == 503
    assert json.loads(result["body"]) == UNAVAILABLE
    assert "cannot read secret no-such-secret" in capsys.readouterr().out


def test_traces_show_the_handler_configuration_selection_and_mongodb(
    mongo_server: EmbeddedMongo,
    mongo_db: Database,
    stored: MongoStore,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the Lambda environment with tracing on, set before the module loads (as the runtime
    # does), and a UDP socket standing in for the X-Ray daemon (the SDK's own transport)
    daemon = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    daemon.bind(("127.0.0.1", 0))
    daemon.settimeout(2)
    port = daemon.getsockname()[1]
    monkeypatch.setenv("MONGODB_URI", mongo_server.uri)
    monkeypatch.setenv("MONGODB_DB", mongo_db.name)
    monkeypatch.setenv("DYNAB_MEMBER_HASH_KEY", KEY)
    monkeypatch.setenv("AWS_XRAY_SDK_ENABLED", "true")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "false")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "dynab-selector")
    monkeypatch.setenv("LAMBDA_TASK_ROOT", "/var/task")
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", f"127.0.0.1:{port}")
    monkeypatch.setenv(
        "_X_AMZN_TRACE_ID",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1",
    )
    from aws_lambda_powertools import Tracer
    from aws_xray_sdk import global_sdk_config
    from aws_xray_sdk.core import lambda_launcher, xray_recorder

    # Powertools keeps one tracer configuration per process; start from a clean one.
    Tracer._reset_config()
    global_sdk_config.set_sdk_enabled(True)
    xray_recorder.configure(
        context=lambda_launcher.LambdaContext(),
        sampling=False,
        daemon_address=f"127.0.0.1:{port}",
    )
    runtime.reset()
    try:
        app = load_app()
        app.logger.registered_handler.stream = sys.stdout
        assert not app.tracer.disabled
        # WHEN one request is served
        result = app.handler({"member_id": "1", "area_code": "MAIN"}, FakeLambdaContext())
        documents = []
        try:
            while True:
                payload = daemon.recv(65536).decode()
                documents.append(json.loads(payload.split("\n", 1)[1]))
        except TimeoutError:
            pass
    finally:
        daemon.close()
        runtime.reset()
        Tracer._reset_config()
        global_sdk_config.set_sdk_enabled(False)
    # THEN the daemon received the handler's subsegment from Powertools, the two named ones,
    # and MongoDB's calls from the patched driver
    assert result["statusCode"] == 200

    def names(doc: dict) -> set[str]:
        return {doc["name"]} | {n for sub in doc.get("subsegments", []) for n in names(sub)}

    seen = set().union(*(names(d) for d in documents))
    assert {"## handler", "load_configuration", "select_model"} <= seen, seen
    # The X-Ray SDK names a MongoDB call's subsegment "<database>@<host>:<port>".
    assert f"{mongo_db.name}@127.0.0.1:{mongo_server.port}" in seen, seen
