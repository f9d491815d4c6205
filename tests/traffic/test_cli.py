"""``dynab traffic`` end to end on a folder."""

from __future__ import annotations

import pytest

from dynab.cli import main
from services.events import parse_line


def test_traffic_writes_the_demo_arms(tmp_path, capsys):
    code = main(
        [
            "traffic",
            "--demo",
            "--start",
            "2026-11-28T00",
            "--hours",
            "2",
            "--requests-per-hour",
            "300",
            "--out",
            str(tmp_path),
            "--gzip",
        ]
    )
    assert code == 0
    files = sorted(tmp_path.rglob("*.jsonl.gz"))
    assert files and "dt=2026-11-28/hour=00" in files[0].as_posix()
    assert "lines in" in capsys.readouterr().out


def test_traffic_with_explicit_arms(tmp_path):
    code = main(
        [
            "traffic",
            "--arm",
            "EXP-09:MAIN:A:0.1",
            "--arm",
            "EXP-09:MAIN:B:0.2:0.01:3",
            "--start",
            "2026-11-28T05",
            "--hours",
            "1",
            "--requests-per-hour",
            "100",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    events = [
        parse_line(line) for f in tmp_path.rglob("*.jsonl") for line in f.read_text().splitlines()
    ]
    assert {e.model_code for e in events} == {"A", "B"}


def test_traffic_errors_are_one_line(tmp_path, capsys):
    assert main(["traffic", "--start", "2026-11-28T00", "--out", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == (
        "dynab traffic: error: arm: give --demo or at least one --arm"
    )
    with pytest.raises(SystemExit) as exit_:
        main(["traffic", "--arm", "EXP-09:MAIN:A:2", "--start", "2026-11-28T00"])
    assert exit_.value.code == 2
    assert "ctr: must be within [0, 1], got 2.0" in capsys.readouterr().err
