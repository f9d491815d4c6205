"""The selector's request: two query parameters, validated before anything reads the store.

Both shapes API Gateway can hand the Lambda are accepted:

* the REST *proxy* event: ``{"queryStringParameters": {...}, "multiValueQueryStringParameters":
  {...}, ...}`` (``queryStringParameters`` is ``None`` when the URL has no query string);
* the *mapping-template* event of the original selector: the parameters at the top level,
  ``{"member_id": "...", "area_code": "..."}``.

A value is accepted only as a plain string matching its documented pattern, so a request value
reaches MongoDB only as a string, never as an object that MongoDB would read as an operator
(``{"$gt": ""}``). A parameter given more than once with different values is refused rather
than resolved silently one way or the other.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from services.exceptions import ValidationError
from services.experiments import AREA_CODE_MAX, AREA_CODE_PATTERN

#: Member ids: site member numbers or opaque ids; letters, digits and ``_ . : @ -``.
MEMBER_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:@-]*$")
MEMBER_ID_MAX = 64

PARAMETERS: tuple[tuple[str, re.Pattern[str], int, str], ...] = (
    ("member_id", MEMBER_ID_PATTERN, MEMBER_ID_MAX, "letters, digits and _ . : @ -"),
    ("area_code", AREA_CODE_PATTERN, AREA_CODE_MAX, "letters, digits, _ and -"),
)


@dataclass(frozen=True, slots=True)
class SelectRequest:
    """A valid selector request; constructing one validates it."""

    member_id: str
    area_code: str

    def __post_init__(self) -> None:
        for name, pattern, max_len, allowed in PARAMETERS:
            _check(name, getattr(self, name), pattern, max_len, allowed)


def _check(name: str, value: object, pattern: re.Pattern[str], max_len: int, allowed: str) -> str:
    if value is None or value == "":
        raise ValidationError(name, "is required")
    if not isinstance(value, str):
        raise ValidationError(name, "must be a plain string")
    if len(value) > max_len:
        raise ValidationError(name, f"must be at most {max_len} characters")
    if not pattern.fullmatch(value):
        raise ValidationError(name, f"must start with a letter or digit and contain only {allowed}")
    return value


def parse_event(event: object) -> SelectRequest:
    """The request inside an API Gateway event of either shape.

    Raises:
        ValidationError: naming the parameter that is missing, repeated or invalid (or
            ``event`` when the event is not an object at all).
    """
    if not isinstance(event, Mapping):
        raise ValidationError("event", "must be a JSON object")
    if _is_proxy_event(event):
        params = event.get("queryStringParameters") or {}
        multi = event.get("multiValueQueryStringParameters") or {}
        if not isinstance(params, Mapping):
            raise ValidationError("queryStringParameters", "must be an object")
        if not isinstance(multi, Mapping):
            multi = {}
    else:
        params, multi = event, {}
    values: dict[str, Any] = {}
    for name, *_ in PARAMETERS:
        repeated = multi.get(name)
        if isinstance(repeated, list) and len(set(map(repr, repeated))) > 1:
            raise ValidationError(name, "is given more than once with different values")
        values[name] = params.get(name)
    return SelectRequest(**values)


def _is_proxy_event(event: Mapping[str, Any]) -> bool:
    return any(
        key in event
        for key in ("queryStringParameters", "multiValueQueryStringParameters", "requestContext")
    ) or ("httpMethod" in event and "member_id" not in event)
