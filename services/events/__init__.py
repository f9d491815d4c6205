"""Event logs: the schema of impressions, clicks and orders, their partition layout, a writer."""

from services.events.layout import (
    hour_of_partition,
    hours_between,
    partition_dir,
    partition_path,
)
from services.events.schema import (
    OPTIONAL_FIELDS,
    REQUIRED_FIELDS,
    Event,
    EventType,
    format_ts,
    parse_line,
    parse_ts,
)
from services.events.writer import EventLogWriter, EventSinkError, LocalSink, S3Sink

__all__ = [
    "OPTIONAL_FIELDS",
    "REQUIRED_FIELDS",
    "Event",
    "EventLogWriter",
    "EventSinkError",
    "EventType",
    "LocalSink",
    "S3Sink",
    "format_ts",
    "hour_of_partition",
    "hours_between",
    "parse_line",
    "parse_ts",
    "partition_dir",
    "partition_path",
]
