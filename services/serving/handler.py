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


def response(status: int, body: Mapping[str, Any]) -> dict[str, Any]:
    """An API Gateway proxy response with a JSON body."""
    return {
        "statusCode": status,
        "headers": dict(JSON_HEADERS),
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
    return response(result.status, result.body)
