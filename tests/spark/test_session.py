"""Without Java, the job says so in one line (no JVM is started here)."""

from __future__ import annotations

import pytest

from dynab.cli import main
from spark import session
from spark.session import JAVA_MISSING, SparkUnavailableError


def test_missing_java_is_one_clear_error(monkeypatch):
    monkeypatch.setattr(session, "find_java", lambda: None)
    with pytest.raises(SparkUnavailableError, match="needs Java 17"):
        session.local_session()


def test_the_command_prints_it_and_exits_non_zero(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(session, "find_java", lambda: None)
    code = main(["update-params", "--input", str(tmp_path), "--batch-end", "2026-11-28T10"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.strip().splitlines()[-1] == f"dynab update-params: error: {JAVA_MISSING}"


def test_a_batch_end_that_is_not_a_whole_hour_is_refused(capsys, tmp_path):
    with pytest.raises(SystemExit):
        main(["update-params", "--input", str(tmp_path), "--batch-end", "2026-11-28T10:30"])
    assert "not a whole hour" in capsys.readouterr().err
