"""The API Gateway adapter: an event in, a proxy-integration response out.

Shared by the Lambda function (``lambda/selector/app.py``) and the local gateway, so that both
serve exactly the same answers. It never raises: invalid input is ``400`` naming the parameter,
and anything unexpected is a ``500`` JSON body without a stack trace (the error is logged).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from services.exceptions import ValidationError
from services.serving.request import parse_event
from services.serving.service import SelectorService

JSON_HEADERS = {"Content-Type": "application/json"}


#: The body of every answer given when the selector cannot start: what failed is logged, never
#: sent (a driver or DNS error names hosts and users).
UNAVAILABLE = {"error": "the selector is unavailable"}


def response(
    status: int, body: Mapping[str, Any], cache_ttl_seconds: int | None = None
) -> dict[str, Any]:
    """An API Gateway proxy response with a JSON body.

    A ``200`` says how long a client may keep it, ``private`` as it is one member's answer (the
    same TTL as API Gateway's cache, which keys on the member); errors are never kept.
    """
    headers = dict(JSON_HEADERS)
    if status != 200:
        headers["Cache-Control"] = "no-store"
    elif cache_ttl_seconds is not None:
        headers["Cache-Control"] = f"private, max-age={cache_ttl_seconds}"
    return {
        "statusCode": status,
        "headers": headers,
        "body": json.dumps(body, separators=(",", ":")),
    }


def handle_event(event: object, service: SelectorService) -> dict[str, Any]:
    """Validate the event, select a model, shape the response."""
    try:
        request = parse_event(event)
    except ValidationError as exc:
        return response(400, {"error": f"{exc.field} {exc.message}", "parameter": exc.field})
    try:
        result = service.select(request)
    except Exception as exc:
        service.log.error("unexpected error", error=f"{type(exc).__name__}: {exc}")
        return response(500, {"error": "internal error"})
    return response(result.status, result.body, service.settings.cache_ttl_seconds)
