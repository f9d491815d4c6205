"""The Lambda selector: ``GET /select?member_id=M&area_code=A`` behind API Gateway.

A thin adapter: the service (MongoDB client, configuration cache) is built once per cold start
and every invocation is one call of :func:`services.serving.handler.handle_event`.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from services.serving import runtime
from services.serving.handler import handle_event, response
from services.serving.observability import PowertoolsLog

logger = Logger(service="dynab-selector")
log = PowertoolsLog(logger)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        service = runtime.service(log)
    except Exception as exc:
        logger.exception("the selector could not start")
        return response(503, {"error": f"the selector is not configured: {exc}"})
    return handle_event(event, service)
