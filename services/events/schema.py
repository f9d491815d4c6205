"""The event log schema: one JSON object a line, one line per impression, click or order.

An *impression* is one recommendation list shown to a member; its ``request_id`` identifies it.
A *click* or an *order* carries the ``request_id`` of the impression it belongs to, which is how
the parameter job credits it to the impression's experiment, model and hour.

Fields (``item_id``, ``item_ids``, ``batch_id`` and ``propensity`` are optional, everything else
is required):

| field | type | meaning |
| --- | --- | --- |
| ``event_id`` | string | unique per event; a repeated id is the same event sent twice |
| ``event_type`` | ``impression`` / ``click`` / ``order`` | |
| ``request_id`` | string | the impression this event is, or belongs to |
| ``ts`` | ISO-8601 UTC, e.g. ``2026-11-28T09:00:01.250Z`` | when it happened |
| ``member_id`` | string | |
| ``area_code`` | string | where the list was shown |
| ``experiment_id`` | string | the experiment that chose the model |
| ``model_code`` | string | the model that produced the list |
| ``item_id`` | string | the item clicked or ordered |
| ``item_ids`` | list of strings | the items of the list (impressions) |
| ``batch_id`` | string | impressions: the parameter batch in force when the model was chosen |
| ``propensity`` | number in (0, 1] | impressions: the chance the policy in force gave the model |

``batch_id`` and ``propensity`` are copied from the selector's answer. Logs written before they
existed lack them; such impressions stay valid (the job counts the ones without a propensity).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from services.exceptions import ValidationError


class EventType(StrEnum):
    IMPRESSION = "impression"
    CLICK = "click"
    ORDER = "order"


REQUIRED_FIELDS: tuple[str, ...] = (
    "event_id",
    "event_type",
    "request_id",
    "ts",
    "member_id",
    "area_code",
    "experiment_id",
    "model_code",
)
#: What an impression says about the policy that chose its model (copied from the answer).
IMPRESSION_FIELDS: tuple[str, ...] = ("batch_id", "propensity")
OPTIONAL_FIELDS: tuple[str, ...] = ("item_id", "item_ids", *IMPRESSION_FIELDS)
#: The flat columns of an event as the parameter job selects them.
COLUMNS: tuple[str, ...] = (*REQUIRED_FIELDS, "item_id")
#: The flat columns the traffic generator writes: the job's, and the impression fields.
LINE_COLUMNS: tuple[str, ...] = (*COLUMNS, *IMPRESSION_FIELDS)
FIELD_MAX = 128


def format_ts(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and a ``Z``: ``2026-11-28T09:00:01.250Z``."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def parse_ts(value: object) -> datetime:
    """A naive UTC datetime from an ISO-8601 string; a string without offset is taken as UTC."""
    if not isinstance(value, str) or not value:
        raise ValidationError("ts", f"must be an ISO-8601 string, got {value!r}")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationError("ts", f"{value!r} is not an ISO-8601 time") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def check_propensity(value: object) -> float:
    """A propensity as a float: a finite number in (0, 1] (JSON's ``1`` is ``1.0``)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0.0 < value <= 1.0
    ):
        raise ValidationError("propensity", f"must be a number in (0, 1], got {value!r}")
    return float(value)


def _check_text(name: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValidationError(name, "is required and must be a non-empty string")
    if len(value) > FIELD_MAX:
        raise ValidationError(name, f"must be at most {FIELD_MAX} characters")
    return value


@dataclass(frozen=True)
class Event:
    """One logged event; validated at construction. ``ts`` is naive UTC."""

    event_id: str
    event_type: EventType
    request_id: str
    ts: datetime
    member_id: str
    area_code: str
    experiment_id: str
    model_code: str
    item_id: str | None = None
    item_ids: tuple[str, ...] | None = None
    batch_id: str | None = None
    propensity: float | None = None

    def __post_init__(self) -> None:
        for name in (
            "event_id",
            "request_id",
            "member_id",
            "area_code",
            "experiment_id",
            "model_code",
        ):
            _check_text(name, getattr(self, name))
        try:
            object.__setattr__(self, "event_type", EventType(self.event_type))
        except ValueError:
            allowed = ", ".join(t.value for t in EventType)
            raise ValidationError(
                "event_type", f"{self.event_type!r} is not one of: {allowed}"
            ) from None
        if not isinstance(self.ts, datetime):
            raise ValidationError("ts", f"must be a datetime, got {self.ts!r}")
        if self.ts.tzinfo is not None:
            object.__setattr__(self, "ts", self.ts.astimezone(UTC).replace(tzinfo=None))
        if self.item_id is not None:
            _check_text("item_id", self.item_id)
        if self.item_ids is not None:
            if isinstance(self.item_ids, str) or not all(isinstance(i, str) for i in self.item_ids):
                raise ValidationError("item_ids", "must be a list of strings")
            object.__setattr__(self, "item_ids", tuple(self.item_ids))
        if self.batch_id is not None:
            _check_text("batch_id", self.batch_id)
        if self.propensity is not None:
            object.__setattr__(self, "propensity", check_propensity(self.propensity))

    @property
    def hour(self) -> datetime:
        """The hour partition the event belongs to."""
        return self.ts.replace(minute=0, second=0, microsecond=0)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "event_id": self.event_id,
            "event_type": self.event_type.value,
            "request_id": self.request_id,
            "ts": format_ts(self.ts),
            "member_id": self.member_id,
            "area_code": self.area_code,
            "experiment_id": self.experiment_id,
            "model_code": self.model_code,
        }
        if self.item_id is not None:
            out["item_id"] = self.item_id
        if self.item_ids is not None:
            out["item_ids"] = list(self.item_ids)
        if self.batch_id is not None:
            out["batch_id"] = self.batch_id
        if self.propensity is not None:
            out["propensity"] = self.propensity
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Event:
        missing = [name for name in REQUIRED_FIELDS if data.get(name) in (None, "")]
        if missing:
            raise ValidationError(missing[0], "is required")
        item_ids = data.get("item_ids")
        return cls(
            event_id=data["event_id"],
            event_type=data["event_type"],
            request_id=data["request_id"],
            ts=parse_ts(data["ts"]),
            member_id=data["member_id"],
            area_code=data["area_code"],
            experiment_id=data["experiment_id"],
            model_code=data["model_code"],
            item_id=data.get("item_id"),
            item_ids=tuple(item_ids) if isinstance(item_ids, list) else item_ids,
            batch_id=data.get("batch_id"),
            propensity=data.get("propensity"),
        )


def parse_line(line: str | bytes) -> Event:
    """Parse one log line. Raises ValidationError naming the problem (``line`` if not JSON)."""
    if isinstance(line, bytes):
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError("line", "is not UTF-8") from None
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValidationError("line", f"is not JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise ValidationError("line", "must be a JSON object")
    return Event.from_dict(data)
