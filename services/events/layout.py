"""Where events live: ``ROOT/dt=YYYY-MM-DD/hour=HH/part-*.jsonl[.gz]``, by the event's own hour.

``ROOT`` is a local folder or ``s3://bucket/prefix``. A click lands in the partition of the hour
it happened in, which may be the hour after its impression's; the parameter job joins across
partitions. Partitions are only ever added to (new part files), never rewritten, so that a
reader never sees half a file and S3 needs no appends.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta

from services.exceptions import ValidationError

PARTITION_PATTERN = re.compile(r"dt=(\d{4}-\d{2}-\d{2})/hour=(\d{2})")


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def partition_dir(hour: datetime) -> str:
    """The partition of ``hour`` relative to ROOT: ``dt=2026-11-28/hour=09``."""
    return f"dt={hour:%Y-%m-%d}/hour={hour:%H}"


def partition_path(root: str, hour: datetime) -> str:
    return f"{root.rstrip('/')}/{partition_dir(hour)}"


def hour_of_partition(path: str) -> datetime:
    """The hour a partition path (or a file inside it) holds."""
    match = PARTITION_PATTERN.search(path)
    if not match:
        raise ValidationError("path", f"{path!r} is not under a dt=YYYY-MM-DD/hour=HH partition")
    return datetime.strptime(f"{match.group(1)} {match.group(2)}", "%Y-%m-%d %H")


def hours_between(start: datetime, end: datetime) -> Iterator[datetime]:
    """Every hour from ``floor(start)`` up to but excluding ``end``."""
    hour = floor_hour(start)
    while hour < end:
        yield hour
        hour += timedelta(hours=1)


def is_s3(root: str) -> bool:
    return root.startswith("s3://")


def split_s3(root: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> (``bucket``, ``some/prefix``)."""
    if not is_s3(root):
        raise ValidationError("root", f"{root!r} is not an s3:// address")
    bucket, _, prefix = root[len("s3://") :].partition("/")
    if not bucket:
        raise ValidationError("root", f"{root!r} names no bucket")
    return bucket, prefix.strip("/")
