"""``dynab init-db`` against the embedded MongoDB: every index, idempotent, one-line errors."""

from __future__ import annotations

from pymongo.database import Database

from dynab.cli import main
from services.mongo import schema
from services.mongo.embedded import EmbeddedMongo
from services.ops.job_runs import JOB_RUNS


def indexes(db: Database) -> dict[str, list[list[str]]]:
    return {
        name: sorted(list(i["key"]) for i in db[name].list_indexes())
        for name in [*schema.INDEXES, JOB_RUNS]
    }


def test_init_db_creates_every_index_and_is_idempotent(
    capsys, mongo_server: EmbeddedMongo, mongo_db: Database
) -> None:
    args = ["init-db", "--mongodb-uri", mongo_server.uri, "--db", mongo_db.name]
    assert main(args) == 0
    first = indexes(mongo_db)
    out = capsys.readouterr().out
    for collection, specs in schema.INDEXES.items():
        assert f"{mongo_db.name}.{collection}:" in out
        for keys, _ in specs:
            assert [k for k, _ in keys] in first[collection]
    assert ["experiment_id", "hour", "model_code"] in first[schema.HOURLY_METRICS]
    assert ["started_at"] in first[JOB_RUNS]
    # Running it again changes nothing.
    assert main(args) == 0
    assert indexes(mongo_db) == first


def test_unreachable_mongodb_is_one_line_and_exit_1(capsys) -> None:
    code = main(["init-db", "--mongodb-uri", "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=300"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert len(err) == 1 and err[0].startswith("dynab init-db: error: cannot create the indexes")
