"""A buffered event-log writer for a local folder or ``s3://bucket/prefix``.

Lines are buffered per hour partition and written as a new part file when the buffer is full
or the writer is flushed or closed: ``part-<writer_id>-<sequence>.jsonl[.gz]``. Each flush
writes whole files (a local file is written under a temporary name and renamed; an S3 object is
put in one request), so a reader never sees a partial part.
"""

from __future__ import annotations

import gzip as gzip_module
import os
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

from services.events.layout import floor_hour, is_s3, partition_dir, split_s3
from services.events.schema import Event
from services.exceptions import DynabError, ValidationError


class EventSinkError(DynabError):
    """The event log could not be written."""


class Sink(Protocol):
    def put(self, relative_path: str, data: bytes) -> None:
        """Store ``data`` under ROOT/``relative_path`` as one whole file or object."""
        ...


class LocalSink:
    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def put(self, relative_path: str, data: bytes) -> None:
        target = self.root / relative_path
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # A leading dot keeps readers (Spark, DuckDB) from picking up a half-written file.
            tmp = target.with_name(f".{target.name}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, target)
        except OSError as exc:
            raise EventSinkError(f"cannot write {target}: {exc}") from exc


class S3Sink:
    def __init__(self, root: str, client: Any | None = None) -> None:
        self.bucket, self.prefix = split_s3(root)
        if client is None:
            import boto3

            client = boto3.client("s3", endpoint_url=os.environ.get("AWS_ENDPOINT_URL_S3"))
        self.client = client

    def put(self, relative_path: str, data: bytes) -> None:
        key = f"{self.prefix}/{relative_path}" if self.prefix else relative_path
        try:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=data)
        except Exception as exc:  # botocore raises many kinds: one message
            raise EventSinkError(f"cannot write s3://{self.bucket}/{key}: {exc}") from exc


def sink_for(root: str | Path, s3_client: Any | None = None) -> Sink:
    root = str(root)
    return S3Sink(root, s3_client) if is_s3(root) else LocalSink(root)


class EventLogWriter:
    """Buffer event lines per hour partition and write them as part files.

    Args:
        root: A local folder or ``s3://bucket/prefix``.
        gzip: Compress part files (``.jsonl.gz``).
        max_buffered_lines: Flush once this many lines wait in all buffers together.
        writer_id: Part of every file name; distinct writers into one ROOT need distinct ids
            (a random one by default; pass a fixed one for reproducible file names).
        s3_client: A boto3 S3 client for ``s3://`` roots (default: a new one).
    """

    def __init__(
        self,
        root: str | Path,
        *,
        gzip: bool = False,
        max_buffered_lines: int = 200_000,
        writer_id: str | None = None,
        s3_client: Any | None = None,
    ) -> None:
        if max_buffered_lines < 1:
            raise ValidationError("max_buffered_lines", "must be at least 1")
        self.root = str(root)
        self.gzip = gzip
        self.max_buffered_lines = max_buffered_lines
        self.writer_id = writer_id or uuid.uuid4().hex[:12]
        self.sink = sink_for(self.root, s3_client)
        self._buffers: dict[datetime, list[str]] = defaultdict(list)
        self._buffered = 0
        self._sequence = 0
        self.lines_written = 0
        self.files_written: list[str] = []

    def write(self, event: Event | Mapping[str, Any]) -> None:
        """Buffer one event (an Event, or a dict validated through Event)."""
        if not isinstance(event, Event):
            event = Event.from_dict(event)
        self.write_lines(event.hour, [event.to_json()])

    def write_lines(self, hour: datetime, lines: Iterable[str]) -> None:
        """Buffer already serialised lines (no newline) into ``hour``'s partition as they are.

        Used for bulk output and to log lines exactly as a faulty client would (malformed).
        """
        buffer = self._buffers[floor_hour(hour)]
        before = len(buffer)
        buffer.extend(lines)
        self._buffered += len(buffer) - before
        if self._buffered >= self.max_buffered_lines:
            self.flush()

    def flush(self) -> None:
        for hour in sorted(self._buffers):
            lines = self._buffers[hour]
            if not lines:
                continue
            suffix = ".jsonl.gz" if self.gzip else ".jsonl"
            name = f"{partition_dir(hour)}/part-{self.writer_id}-{self._sequence:05d}{suffix}"
            data = ("\n".join(lines) + "\n").encode("utf-8")
            if self.gzip:
                # mtime=0: the same lines give the same bytes, so output is reproducible.
                data = gzip_module.compress(data, compresslevel=5, mtime=0)
            self.sink.put(name, data)
            self._sequence += 1
            self.lines_written += len(lines)
            self.files_written.append(name)
        self._buffers.clear()
        self._buffered = 0

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> EventLogWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None:
            self.close()
