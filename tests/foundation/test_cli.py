"""The ``dynab`` command: ``mongo`` in the foreground, ``demo-data``, and one-line errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from pymongo import MongoClient

from dynab.cli import main
from services.mongo.embedded import EmbeddedMongo, free_port


def test_dynab_mongo_serves_until_interrupted(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dynab.cli",
            "mongo",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        first = proc.stdout.readline() if proc.stdout else ""
        assert f"listening on mongodb://127.0.0.1:{port}/" in first
        client = MongoClient(f"mongodb://127.0.0.1:{port}/", serverSelectionTimeoutMS=3000)
        assert client.admin.command("ping")["ok"] == 1
        # the indexes were created on start (names differ between servers: compare the keys)
        indexes = client.dynab.arm_parameters.index_information().values()
        assert any(
            i["key"] == [("experiment_id", 1), ("variant_name", 1)] and i.get("unique")
            for i in indexes
        )
        client.close()
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "dynab mongo: stopped" in out
    assert (tmp_path / "mongo" / "dynab.db").exists()


def test_dynab_mongo_on_a_busy_port_is_one_line_and_exit_1(
    tmp_path: Path, mongo_server: EmbeddedMongo, capsys
) -> None:
    code = main(["mongo", "--port", str(mongo_server.port), "--data-dir", str(tmp_path)])
    assert code == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("dynab mongo: error: port")


def test_demo_data_is_idempotent(mongo_server: EmbeddedMongo, capsys) -> None:
    uri = f"{mongo_server.uri}dynab_cli_demo"
    try:
        assert main(["demo-data", "--mongodb-uri", uri]) == 0
        assert "created MAIN, DETAIL, CART, EXP-01, EXP-02" in capsys.readouterr().out
        assert main(["demo-data", "--mongodb-uri", uri]) == 0
        assert "created nothing (already there)" in capsys.readouterr().out
        db = MongoClient(mongo_server.uri).dynab_cli_demo
        assert {d["_id"]: d["status"] for d in db.experiments.find()} == {
            "EXP-01": "running",
            "EXP-02": "running",
        }
    finally:
        MongoClient(mongo_server.uri).drop_database("dynab_cli_demo")


def test_a_bad_setting_is_one_line_and_exit_2(capsys, monkeypatch) -> None:
    monkeypatch.setenv("DYNAB_CONSOLE_PORT", "eighty")
    monkeypatch.delenv("MONGODB_URI", raising=False)
    code = main(["run", "--no-job", "--data-dir", os.devnull + "-unused"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["dynab: error: DYNAB_CONSOLE_PORT: must be a whole number, got 'eighty'"]
