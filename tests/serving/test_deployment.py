"""The SAM template passes cfn-lint and says what the issue asks; the build packages the code."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pymongo.database import Database

from services.experiments import ExperimentType, ServingMode
from services.mongo.embedded import EmbeddedMongo
from services.mongo.repository import MongoStore
from tests.foundation.factories import arms
from tests.serving.conftest import save_batch, start_experiment

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "lambda" / "template.yaml"

_spec = importlib.util.spec_from_file_location("dynab_lambda_build", ROOT / "lambda" / "build.py")
assert _spec and _spec.loader
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


def test_template_passes_cfn_lint() -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_template_has_cache_keys_tracing_and_retention() -> None:
    from cfnlint.decode import decode

    template, errors = decode(str(TEMPLATE))
    assert not errors
    resources = template["Resources"]
    api = resources["SelectorApi"]["Properties"]
    assert api["CacheClusterEnabled"] is True and api["TracingEnabled"] is True
    assert api["MethodSettings"][0]["CacheTtlInSeconds"] == {"Ref": "CacheTtlSeconds"}
    assert template["Parameters"]["CacheTtlSeconds"]["MaxValue"] == 3600
    function = resources["SelectorFunction"]["Properties"]
    params = function["Events"]["Select"]["Properties"]["RequestParameters"]
    cached = {name for p in params for name, opts in p.items() if opts["Caching"]}
    assert cached == {
        "method.request.querystring.member_id",
        "method.request.querystring.area_code",
    }
    assert template["Globals"]["Function"]["Tracing"] == "Active"
    assert "MONGODB_URI_SSM_PARAMETER" in function["Environment"]["Variables"]
    assert resources["SelectorLogGroup"]["Properties"]["RetentionInDays"] == {
        "Ref": "LogRetentionDays"
    }


def translated_template() -> dict:
    """The template as CloudFormation receives it: the SAM transform applied (sam package's
    S3 locations stand in for the local code folders)."""
    from cfnlint.decode import decode
    from samtranslator.translator.transform import transform

    template, errors = decode(str(TEMPLATE))
    assert not errors
    resources = template["Resources"]
    resources["SelectorFunction"]["Properties"]["CodeUri"] = "s3://bucket/function.zip"
    resources["SelectorDependencies"]["Properties"]["ContentUri"] = "s3://bucket/layer.zip"

    class NoManagedPolicies:
        def load(self) -> dict:
            return {}

    return transform(template, {}, NoManagedPolicies())


def test_translated_template_caches_per_member_and_area(monkeypatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    resources = translated_template()["Resources"]
    (api,) = [
        r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGateway::RestApi"
    ]
    # The generated API's GET /select declares both query parameters as cache keys ...
    body = api["Body"]
    get = body["paths"]["/select"]["get"]
    integration = get["x-amazon-apigateway-integration"]
    assert set(integration["cacheKeyParameters"]) == {
        "method.request.querystring.member_id",
        "method.request.querystring.area_code",
    }
    # ... and the generated stage turns the cache on with the TTL parameter.
    (stage,) = [
        r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGateway::Stage"
    ]
    assert stage["CacheClusterEnabled"] is True
    settings = stage["MethodSettings"][0]
    assert settings["CachingEnabled"] is True
    assert settings["CacheTtlInSeconds"] == {"Ref": "CacheTtlSeconds"}
    assert settings["LoggingLevel"] == {"Ref": "ExecutionLogLevel"}


def test_translated_template_sets_the_account_logging_role_before_the_stage(monkeypatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    template = translated_template()
    resources = template["Resources"]
    account = resources["ApiGatewayAccount"]
    assert account["Type"] == "AWS::ApiGateway::Account"
    assert account["Properties"]["CloudWatchRoleArn"] == {
        "Fn::GetAtt": ["ApiGatewayCloudWatchRole", "Arn"]
    }
    role = resources["ApiGatewayCloudWatchRole"]["Properties"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {
        "Service": "apigateway.amazonaws.com"
    }
    assert "AmazonAPIGatewayPushToCloudWatchLogs" in str(role["ManagedPolicyArns"])
    # The stage's API waits for the account setting (through the handle, as the account
    # resource is conditional).
    (api_id,) = [k for k, r in resources.items() if r["Type"] == "AWS::ApiGateway::RestApi"]
    assert resources[api_id]["DependsOn"] == "ApiGatewayAccountReady"
    handle = resources["ApiGatewayAccountReady"]["Metadata"]["Account"]
    assert handle["Fn::If"][1] == {"Ref": "ApiGatewayAccount"}


def test_translated_template_requires_a_secret_member_hash_key(monkeypatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    template = translated_template()
    key = template["Parameters"]["MemberHashKey"]
    assert key["NoEcho"] is True and "Default" not in key and key["MinLength"] >= 32
    resources = template["Resources"]
    secret = resources["MemberHashKeySecret"]["Properties"]
    assert secret["SecretString"] == {"Ref": "MemberHashKey"}
    function = resources["SelectorFunction"]["Properties"]
    env = function["Environment"]["Variables"]
    # The function gets the secret's name, never the key; and may read that secret only.
    assert env["DYNAB_MEMBER_HASH_KEY_SECRET"] == {"Ref": "MemberHashKeySecret"}
    assert "DYNAB_MEMBER_HASH_KEY" not in env
    role = resources["SelectorFunctionRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    reads = [s for s in statements if "secretsmanager:GetSecretValue" in str(s["Action"])]
    assert reads and all("{'Ref': 'MemberHashKeySecret'}" in str(s["Resource"]) for s in reads)


def test_outputs_name_what_the_operations_page_needs() -> None:
    from cfnlint.decode import decode

    template, _ = decode(str(TEMPLATE))
    outputs = template["Outputs"]
    assert outputs["ApiStage"]["Value"] == {"Ref": "StageName"}
    assert outputs["SelectorLogGroup"]["Value"] == {"Ref": "SelectorLogGroup"}
    # The ApiName output is the name the API is created with (CloudWatch's ApiName dimension).
    api = template["Resources"]["SelectorApi"]["Properties"]
    assert outputs["ApiName"]["Value"] == api["Name"]
    docs = (ROOT / "docs" / "deploy.md").read_text()
    for name in ("ApiName", "ApiStage", "SelectorLogGroup"):
        assert name in docs


def test_build_packages_handler_with_services(tmp_path: Path) -> None:
    # GIVEN the function code built (the dependency layer needs the package index: skipped)
    result = subprocess.run(
        [sys.executable, str(ROOT / "lambda" / "build.py"), "--skip-layer", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    function = tmp_path / "function"
    assert (function / "app.py").is_file()
    assert (function / "services" / "selection.py").is_file()
    assert not list(function.rglob("__pycache__"))
    # THEN the handler imports from the build folder alone (dependencies from this venv)
    env = {**os.environ, "PYTHONPATH": str(function)}
    probe = subprocess.run(
        [sys.executable, "-c", "import app, services; print(services.__file__)"],
        cwd=function,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert probe.returncode == 0, probe.stderr
    assert str(function) in probe.stdout


# --- the real artifact ----------------------------------------------------------------------

SERVE_FROM_ARTIFACT = r"""
import json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
import importlib.util
spec = importlib.util.spec_from_file_location("app", sys.argv[1] + "/app.py")
app = importlib.util.module_from_spec(spec)
spec.loader.exec_module(app)

class Context:
    function_name = "dynab-selector"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:dynab-selector"
    aws_request_id = "r-1"
    def get_remaining_time_in_millis(self):
        return 3000

answers = {}
for area in sys.argv[3:]:
    result = app.handler({"member_id": "member-1", "area_code": area}, Context())
    answers[area] = [result["statusCode"], json.loads(result["body"])]
loaded = sorted(m for m in ("scipy", "pandas", "pyspark", "streamlit") if m in sys.modules)
print("RESULT " + json.dumps({"answers": answers, "loaded": loaded}))
"""


@pytest.mark.slow
def test_the_lambda_artifact_is_under_budget_and_serves_every_mode(
    tmp_path: Path, mongo_server: EmbeddedMongo, mongo_db: Database
) -> None:
    # GIVEN the real artifact, built by lambda/build.py from the package index at the versions
    # of constraints.txt (manylinux wheels for the runtime; this machine runs them too)
    built = subprocess.run(
        [sys.executable, str(ROOT / "lambda" / "build.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    function, layer = tmp_path / "function", tmp_path / "layer" / "python"
    size = build.tree_size(tmp_path / "function") + build.tree_size(tmp_path / "layer")
    # THEN it is under budget, without bytecode, test folders, scipy or pandas
    assert size <= build.LAYER_BUDGET_BYTES, f"{size:,} bytes"
    assert not list(tmp_path.rglob("*.pyc"))
    assert not [p for p in tmp_path.rglob("tests") if p.is_dir()]
    installed = {p.name for p in layer.iterdir()}
    assert "numpy" in installed and "pymongo" in installed and "aws_xray_sdk" in installed
    assert not {"scipy", "pandas"} & installed
    # AND it serves every mode from the artifact alone (no site-packages on the path): static,
    # Thompson draws, sticky with the job's weights, and sticky computing P(best) itself
    store = MongoStore(mongo_db)
    store.ensure_indexes()
    static = start_experiment(
        store,
        experiment_id="EXP-ST",
        area_code="STATIC",
        type=ExperimentType.STATIC,
        arms=arms("ST-A", "ST-B"),
    )
    assert static.status.value == "running"
    modes = {"DRAW": ServingMode.DRAW, "STICKY": ServingMode.STICKY, "STICKYW": ServingMode.STICKY}
    for code, mode in modes.items():
        exp = start_experiment(
            store,
            experiment_id=f"EXP-{code}",
            area_code=code,
            arms=arms(f"{code}-A", f"{code}-B", f"{code}-C"),
            serving_mode=mode,
            warmup_hours=0.0,
            warmup_min_impressions=0,
        )
        save_batch(store, exp, [(50, 950), (80, 920), (20, 980)])
    # STICKY's batch carries no weights (as one written before weights were stored): the selector
    # integrates P(best) itself -- without scipy in the artifact.
    store.db["arm_parameters"].update_many(
        {"experiment_id": "EXP-STICKY"}, {"$unset": {"weight": ""}}
    )
    env = {
        "PATH": os.environ.get("PATH", ""),
        "MONGODB_URI": mongo_server.uri,
        "MONGODB_DB": mongo_db.name,
        "DYNAB_MEMBER_HASH_KEY": "k" * 32,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    served = subprocess.run(
        [
            *(sys.executable, "-I", "-S", "-c", SERVE_FROM_ARTIFACT),
            *(str(function), str(layer), "STATIC", *modes),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert served.returncode == 0, served.stderr[-3000:]
    (line,) = [x for x in served.stdout.splitlines() if x.startswith("RESULT ")]
    result = json.loads(line.removeprefix("RESULT "))
    assert result["loaded"] == []
    reasons = {area: body["reason"] for area, (status, body) in result["answers"].items()}
    statuses = {status for status, _ in result["answers"].values()}
    assert statuses == {200}
    assert reasons == {"STATIC": "static", "DRAW": "bts", "STICKY": "bts", "STICKYW": "bts"}
