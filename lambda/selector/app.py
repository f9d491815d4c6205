"""The Lambda selector: ``GET /select?member_id=M&area_code=A`` behind API Gateway.

A thin adapter. The service (secrets, MongoDB client, configuration cache) is built while this
module loads -- Lambda's init phase -- and every invocation is one call of
:func:`services.serving.handler.handle_event`. Log lines carry API Gateway's request id as
``correlation_id``; the Tracer patches botocore and pymongo so their calls appear in X-Ray.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from services.serving import runtime
from services.serving.handler import UNAVAILABLE, handle_event, response
from services.serving.observability import PowertoolsLog

logger = Logger(service="dynab-selector")
tracer = Tracer(service="dynab-selector", patch_modules=["botocore", "pymongo"])
log = PowertoolsLog(logger)

_init_error = runtime.start(log)
if _init_error is not None:
    logger.error(
        "the selector could not start; requests are answered 503 until it can",
        extra={"error": f"{type(_init_error).__name__}: {_init_error}"},
    )


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_REST, clear_state=True
)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    try:
        service = runtime.service(log)
    except Exception:
        logger.exception("the selector could not start")
        return response(503, UNAVAILABLE)
    return handle_event(event, service)
