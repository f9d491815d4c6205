"""X-Ray subsegments around the configuration load and the selection, on AWS only.

Tracing goes through Powertools' ``Tracer``: the Lambda module creates it (which patches botocore
and pymongo, so the SSM, Secrets Manager and MongoDB calls show in the trace with their time) and
decorates the handler; here the same tracer -- Powertools keeps one configuration per process --
opens the two named subsegments. Outside Lambda (the local gateway, tests, benchmarks), or with
``POWERTOOLS_TRACE_DISABLED=true`` / ``AWS_XRAY_SDK_ENABLED=false``, :func:`subsegment` is a no-op.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

_tracer: Any = None


def tracing_enabled() -> bool:
    if os.environ.get("AWS_XRAY_SDK_ENABLED", "true").lower() == "false":
        return False
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").lower() in ("true", "1"):
        return False
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def tracer() -> Any:
    """The process's Powertools Tracer (created on first use, inside Lambda only)."""
    global _tracer
    if _tracer is None:
        from aws_lambda_powertools import Tracer

        _tracer = Tracer()
    return _tracer


@contextlib.contextmanager
def subsegment(name: str, **annotations: str) -> Iterator[None]:
    """Trace the block as an X-Ray subsegment named ``name`` (no-op outside Lambda)."""
    if not tracing_enabled():
        yield
        return
    with tracer().provider.in_subsegment(name) as sub:
        if sub is not None:
            for key, value in annotations.items():
                sub.put_annotation(key, value)
        yield
