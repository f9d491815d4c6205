"""scripts/ensure-system-deps.sh picks a Java 17+ that the distribution really offers.

``apt-cache`` is replaced by a stand-in printing what each distribution's apt answers (the only
stand-in here: the machine has one distribution's package lists, not four).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "ensure-system-deps.sh"

DISTRIBUTIONS = {
    # name: (default-jre-headless candidate, openjdk-N-jre-headless packages), expected choice
    "debian-12": (("2:1.17-74", [17]), "default-jre-headless"),
    "debian-13": (("2:1.21-76", [21, 25]), "default-jre-headless"),
    "ubuntu-22.04": (("2:1.11-72build2", [8, 11, 17, 18, 19, 21]), "openjdk-21-jre-headless"),
    "newer-only": (("2:1.25-80", [25, 26]), "openjdk-26-jre-headless"),
    "old": (("2:1.11-72", [8, 11]), ""),
}


@pytest.mark.parametrize("name", DISTRIBUTIONS)
def test_the_java_package_is_one_the_distribution_offers(tmp_path: Path, name: str) -> None:
    (default, versions), expected = DISTRIBUTIONS[name]
    search = "\\n".join(f"openjdk-{v}-jre-headless - OpenJDK Java runtime" for v in versions)
    fake = tmp_path / "apt-cache"
    fake.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        f'  policy) printf "default-jre-headless:\\n  Candidate: {default}\\n" ;;\n'
        f'  search) printf "{search}\\n" ;;\n'
        "esac\n"
    )
    fake.chmod(0o755)
    result = subprocess.run(
        ["bash", str(SCRIPT), "--which-java"],
        env={**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
