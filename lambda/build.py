"""Package the selector for SAM: the function code and a dependency layer, under lambda/.build/.

* ``.build/function/``: ``app.py`` and the ``services`` package (the code that changes often);
* ``.build/layer/python/``: numpy, scipy, pymongo, aws-lambda-powertools and aws-xray-sdk, as
  Linux wheels for the Lambda runtime (``pip --platform manylinux2014_x86_64``), so the build
  works from any machine. About 150 MB unzipped, inside Lambda's 250 MB limit; boto3 is left to
  the runtime.

Usage: ``python lambda/build.py [--skip-layer]`` then ``sam deploy --guided`` in ``lambda/``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BUILD = HERE / ".build"
LAYER_REQUIREMENTS = (
    "numpy>=1.26",
    "scipy>=1.11",
    "pymongo>=4.6",
    "aws-lambda-powertools>=3.0",
    "aws-xray-sdk>=2.14",
)
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")


def build_function(out: Path) -> Path:
    """Copy the handler and the services package into ``out`` (replaced if present)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy2(HERE / "selector" / "app.py", out / "app.py")
    shutil.copytree(ROOT / "services", out / "services", ignore=IGNORE)
    return out


def build_layer(out: Path, python_version: str = "3.11", platform: str = "manylinux2014_x86_64"):
    """Install the runtime dependencies as Linux wheels into ``out/python``."""
    if out.exists():
        shutil.rmtree(out)
    target = out / "python"
    target.mkdir(parents=True)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--target",
            str(target),
            "--platform",
            platform,
            "--python-version",
            python_version,
            "--implementation",
            "cp",
            "--only-binary=:all:",
            *LAYER_REQUIREMENTS,
        ],
        check=True,
    )
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-layer", action="store_true", help="build the function code only")
    parser.add_argument(
        "--out", type=Path, default=BUILD, help="build folder (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    function = build_function(args.out / "function")
    print(f"function code: {function}")
    if not args.skip_layer:
        layer = build_layer(args.out / "layer")
        print(f"dependency layer: {layer}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
