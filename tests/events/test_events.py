"""Event schema, partition layout and the writer (local folder and S3 through moto's server)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime, timedelta, timezone

import boto3
import pytest
from moto.server import ThreadedMotoServer

from services.events import Event, EventLogWriter, format_ts, parse_line, partition_path
from services.events.layout import hour_of_partition, hours_between, split_s3
from services.exceptions import ValidationError
from services.mongo.embedded import free_port

LINE = {
    "event_id": "e1",
    "event_type": "click",
    "request_id": "r1",
    "ts": "2026-11-28T09:59:59.500Z",
    "member_id": "M1",
    "area_code": "MAIN",
    "experiment_id": "EXP-01",
    "model_code": "A",
    "item_id": "I1",
}

IMPRESSION = {
    "event_id": "e0",
    "event_type": "impression",
    "request_id": "r1",
    "ts": "2026-11-28T09:59:58.000Z",
    "member_id": "M1",
    "area_code": "MAIN",
    "experiment_id": "EXP-01",
    "model_code": "A",
    "batch_id": "20261128T0900",
    "propensity": 0.25,
}


def test_a_line_round_trips():
    event = parse_line(json.dumps(LINE))
    assert event.ts == datetime(2026, 11, 28, 9, 59, 59, 500000)
    assert event.hour == datetime(2026, 11, 28, 9)
    assert json.loads(event.to_json()) == LINE


def test_an_impression_carries_its_batch_and_propensity():
    event = parse_line(json.dumps(IMPRESSION))
    assert (event.batch_id, event.propensity) == ("20261128T0900", 0.25)
    assert json.loads(event.to_json()) == IMPRESSION
    # JSON's 1 is a propensity of exactly 1 (a paused test's control, an area default).
    assert parse_line(json.dumps({**IMPRESSION, "propensity": 1})).propensity == 1.0


def test_an_impression_from_before_propensities_is_still_valid():
    # Old logs have neither field: the event is kept, the fields are simply unknown.
    old = {k: v for k, v in IMPRESSION.items() if k not in ("batch_id", "propensity")}
    event = parse_line(json.dumps(old))
    assert (event.batch_id, event.propensity) == (None, None)
    assert json.loads(event.to_json()) == old
    assert parse_line(json.dumps({**old, "batch_id": None, "propensity": None})).propensity is None


def test_an_offset_is_converted_to_utc():
    event = parse_line(json.dumps({**LINE, "ts": "2026-11-28T11:00:00+01:00"}))
    assert event.ts == datetime(2026, 11, 28, 10)
    aware = datetime(2026, 11, 28, 11, tzinfo=timezone(timedelta(hours=1)))
    assert format_ts(aware) == "2026-11-28T10:00:00.000Z"
    assert format_ts(datetime(2026, 11, 28, 10, tzinfo=UTC)) == "2026-11-28T10:00:00.000Z"


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("{not json", "line"),
        ("[1, 2]", "line"),
        (json.dumps({**LINE, "event_type": "hover"}), "event_type"),
        (json.dumps({k: v for k, v in LINE.items() if k != "request_id"}), "request_id"),
        (json.dumps({**LINE, "member_id": ""}), "member_id"),
        (json.dumps({**LINE, "ts": "noon"}), "ts"),
        (json.dumps({**LINE, "ts": 12}), "ts"),
        (json.dumps({**LINE, "item_id": ""}), "item_id"),
        (json.dumps({**LINE, "item_ids": "I1"}), "item_ids"),
        (json.dumps({**LINE, "model_code": "x" * 200}), "model_code"),
        (json.dumps({**IMPRESSION, "propensity": 0}), "propensity"),
        (json.dumps({**IMPRESSION, "propensity": 1.0001}), "propensity"),
        (json.dumps({**IMPRESSION, "propensity": -0.5}), "propensity"),
        (json.dumps({**IMPRESSION, "propensity": "0.5"}), "propensity"),
        (json.dumps({**IMPRESSION, "propensity": True}), "propensity"),
        (
            '{"event_id":"e","event_type":"impression","request_id":"r","ts":"2026-11-28T09:00:00Z",'
            '"member_id":"M","area_code":"A","experiment_id":"E","model_code":"X","propensity":NaN}',
            "propensity",
        ),
        (json.dumps({**IMPRESSION, "batch_id": ""}), "batch_id"),
        (json.dumps({**IMPRESSION, "batch_id": 20261128}), "batch_id"),
        (json.dumps({**IMPRESSION, "batch_id": "b" * 200}), "batch_id"),
        (b"\xff\xfe", "line"),
    ],
)
def test_every_invalid_line_names_its_field(line, field):
    with pytest.raises(ValidationError) as err:
        parse_line(line)
    assert err.value.field == field


def test_layout():
    hour = datetime(2026, 11, 28, 9)
    assert partition_path("s3://b/logs/", hour) == "s3://b/logs/dt=2026-11-28/hour=09"
    assert hour_of_partition("/x/dt=2026-11-28/hour=09/part-1.jsonl") == hour
    assert list(hours_between(hour, hour + timedelta(hours=2))) == [hour, hour + timedelta(hours=1)]
    assert split_s3("s3://bucket/a/b/") == ("bucket", "a/b")
    with pytest.raises(ValidationError):
        split_s3("s3:///nobucket")
    with pytest.raises(ValidationError):
        hour_of_partition("/x/y.jsonl")


def event_at(ts: datetime, n: int) -> Event:
    return Event(f"e{n}", "impression", f"r{n}", ts, "M1", "MAIN", "EXP-01", "A")


def test_local_writer_partitions_by_event_hour_and_flushes_when_full(tmp_path):
    nine = datetime(2026, 11, 28, 9, 59, 59)
    with EventLogWriter(tmp_path, writer_id="w", max_buffered_lines=2) as writer:
        writer.write(event_at(nine, 1))
        writer.write({**LINE, "ts": "2026-11-28T10:00:00Z"})  # flushes: two buffered
        writer.write(event_at(nine, 3))
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*.jsonl"))
    assert files == [
        "dt=2026-11-28/hour=09/part-w-00000.jsonl",
        "dt=2026-11-28/hour=09/part-w-00002.jsonl",
        "dt=2026-11-28/hour=10/part-w-00001.jsonl",
    ]
    assert writer.lines_written == 3
    assert not list(tmp_path.rglob(".*"))  # no temporary file left behind


def test_gzip_output_is_reproducible(tmp_path):
    for name in ("a", "b"):
        with EventLogWriter(tmp_path / name, writer_id="w", gzip=True) as writer:
            writer.write(event_at(datetime(2026, 11, 28, 9), 1))
    a = (tmp_path / "a/dt=2026-11-28/hour=09/part-w-00000.jsonl.gz").read_bytes()
    assert a == (tmp_path / "b/dt=2026-11-28/hour=09/part-w-00000.jsonl.gz").read_bytes()
    assert parse_line(gzip.decompress(a).decode().strip()).event_id == "e1"


def test_invalid_buffer_size():
    with pytest.raises(ValidationError):
        EventLogWriter("/tmp/x", max_buffered_lines=0)


@pytest.fixture(scope="module")
def s3():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=free_port())
    server.start()
    host, port = server.get_host_and_port()
    client = boto3.client(
        "s3",
        endpoint_url=f"http://{host}:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    yield client
    server.stop()


def test_s3_writer_puts_one_object_per_part(s3):
    s3.create_bucket(Bucket="logs")
    with EventLogWriter("s3://logs/events", writer_id="w", gzip=True, s3_client=s3) as writer:
        writer.write(event_at(datetime(2026, 11, 28, 9, 30), 1))
        writer.write(event_at(datetime(2026, 11, 28, 10, 5), 2))
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="logs")["Contents"])
    assert keys == [
        "events/dt=2026-11-28/hour=09/part-w-00000.jsonl.gz",
        "events/dt=2026-11-28/hour=10/part-w-00001.jsonl.gz",
    ]
    body = s3.get_object(Bucket="logs", Key=keys[1])["Body"].read()
    assert parse_line(gzip.decompress(body).decode().strip()).event_id == "e2"


def test_s3_failure_is_one_clear_error(s3):
    from services.events import EventSinkError

    writer = EventLogWriter("s3://no-such-bucket/x", s3_client=s3)
    writer.write(event_at(datetime(2026, 11, 28, 9), 1))
    with pytest.raises(EventSinkError, match="s3://no-such-bucket/x/dt=2026-11-28/hour=09"):
        writer.flush()
