"""Package the selector for SAM: the function code and a dependency layer, under lambda/.build/.

* ``.build/function/``: ``app.py`` and the ``services`` package (the code that changes often);
* ``.build/layer/python/``: the project's core dependencies (``[project] dependencies`` in
  pyproject.toml: numpy, pymongo, aws-lambda-powertools with its tracer) at the versions of
  ``constraints.txt`` -- the ones the tests ran with -- as Linux wheels for the Lambda runtime
  (``pip --platform manylinux2014_x86_64``), so the build works from any machine. boto3 and
  botocore are shipped too (the X-Ray SDK needs botocore, and a layer botocore beside the
  runtime's older boto3 would be a pair nobody tested). No bytecode (Lambda compiles what it
  imports, and ``.pyc`` files for every module cost more space than they save time) and no
  ``tests`` folders.

The layer must stay under :data:`LAYER_BUDGET_BYTES` unzipped (checked by the tests); the
selector never imports scipy or pandas, which is what keeps it small.

Usage: ``python lambda/build.py [--skip-layer]`` then ``sam deploy --guided`` in ``lambda/``.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BUILD = HERE / ".build"
CONSTRAINTS = ROOT / "constraints.txt"
#: Lambda allows 250 MB unzipped for a function and its layers together. The layer is held to
#: 100 MB: it measures about 86 MB (numpy with its OpenBLAS 52 MB, botocore 30 MB), which
#: leaves room for a dependency update without drifting back towards the hard limit.
LAYER_BUDGET_BYTES = 100 * 1000 * 1000
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
#: Folders of installed packages that nothing imports at run time.
PRUNED_DIRS = frozenset({"tests", "test", "testing", "__pycache__"})


def core_requirements(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The project's core dependencies: what the selector imports."""
    return list(tomllib.loads(pyproject.read_text())["project"]["dependencies"])


def build_function(out: Path) -> Path:
    """Copy the handler and the services package into ``out`` (replaced if present)."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    shutil.copy2(HERE / "selector" / "app.py", out / "app.py")
    shutil.copytree(ROOT / "services", out / "services", ignore=IGNORE)
    return out


def prune(target: Path) -> None:
    """Remove test folders and bytecode from installed packages."""
    for path in sorted(target.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and path.name in PRUNED_DIRS and not path.is_symlink():
            # numpy.testing is imported by numpy itself on some paths; keep it.
            if path.name == "testing" and path.parent.name == "numpy":
                continue
            shutil.rmtree(path)
        elif path.is_file() and path.suffix == ".pyc":
            path.unlink()


def build_layer(out: Path, python_version: str = "3.11", platform: str = "manylinux2014_x86_64"):
    """Install the core dependencies as Linux wheels into ``out/python``, pruned."""
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
            "--disable-pip-version-check",
            "--no-compile",
            "--target",
            str(target),
            "--platform",
            platform,
            "--python-version",
            python_version,
            "--implementation",
            "cp",
            "--only-binary=:all:",
            "-c",
            str(CONSTRAINTS),
            *core_requirements(),
        ],
        check=True,
    )
    # pip --target puts console scripts here; the layer has no use for them.
    shutil.rmtree(target / "bin", ignore_errors=True)
    prune(target)
    return out


def tree_size(path: Path) -> int:
    """Bytes of every file under ``path`` (what Lambda counts as unzipped size)."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-layer", action="store_true", help="build the function code only")
    parser.add_argument(
        "--out", type=Path, default=BUILD, help="build folder (default: %(default)s)"
    )
    args = parser.parse_args(argv)
    function = build_function(args.out / "function")
    print(f"function code: {function} ({tree_size(function):,} bytes)")
    if not args.skip_layer:
        layer = build_layer(args.out / "layer")
        size = tree_size(layer)
        print(f"dependency layer: {layer} ({size:,} bytes unzipped)")
        if size > LAYER_BUDGET_BYTES:
            print(f"the layer exceeds its budget of {LAYER_BUDGET_BYTES:,} bytes", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
