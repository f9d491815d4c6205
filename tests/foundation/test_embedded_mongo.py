"""The embedded server launcher: start, data kept across restarts, clean stop, clear errors."""

from __future__ import annotations

import pytest
from pymongo import MongoClient

from services.mongo.embedded import EmbeddedMongo, EmbeddedMongoError, free_port


def test_data_survives_a_restart_and_stop_is_clean(tmp_path):
    port = free_port()
    with EmbeddedMongo(data_dir=tmp_path / "data", port=port) as server:
        assert server.running
        client = MongoClient(server.uri, serverSelectionTimeoutMS=2000)
        client.dynab.areas.insert_one({"_id": "MAIN", "default_model": "A"})
        client.close()
        proc = server.process
    assert proc is not None and proc.poll() is not None
    with EmbeddedMongo(data_dir=tmp_path / "data") as server:
        client = MongoClient(server.uri, serverSelectionTimeoutMS=2000)
        assert client.dynab.areas.find_one({"_id": "MAIN"})["default_model"] == "A"
        client.close()


def test_a_busy_port_is_a_clear_error(tmp_path, mongo_server):
    with pytest.raises(EmbeddedMongoError, match=rf"port {mongo_server.port} .* already in use"):
        EmbeddedMongo(data_dir=tmp_path, port=mongo_server.port).start()


def test_an_unusable_data_folder_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(EmbeddedMongoError, match="cannot create data folder"):
        EmbeddedMongo(data_dir=blocker / "sub").start()
