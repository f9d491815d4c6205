"""The SAM template passes cfn-lint and says what the issue asks; the build packages the code."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "lambda" / "template.yaml"


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
