"""X-Ray subsegments around the configuration load and the selection, on AWS only.

The X-Ray SDK is used only inside Lambda with tracing on (``_X_AMZN_TRACE_ID`` set by the runtime
and ``AWS_XRAY_SDK_ENABLED`` not ``false``). Everywhere else -- the local gateway, tests,
benchmarks -- :func:`subsegment` is a no-op, so the SDK never logs "segment not found" or polls a
local daemon for sampling rules.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import Any

_configured = False


def tracing_enabled() -> bool:
    if os.environ.get("AWS_XRAY_SDK_ENABLED", "true").lower() == "false":
        return False
    return bool(os.environ.get("AWS_LAMBDA_FUNCTION_NAME"))


def _recorder() -> Any:
    global _configured
    from aws_xray_sdk.core import xray_recorder

    if not _configured:
        # Inside Lambda the function's segment comes from the runtime; sampling is decided there
        # too, so the SDK must not run its own sampler (a thread polling 127.0.0.1:2000).
        xray_recorder.configure(sampling=False, context_missing="LOG_ERROR")
        _configured = True
    return xray_recorder


@contextlib.contextmanager
def subsegment(name: str, **annotations: str) -> Iterator[None]:
    """Trace the block as an X-Ray subsegment named ``name`` (no-op outside Lambda)."""
    if not tracing_enabled():
        yield
        return
    with _recorder().in_subsegment(name) as sub:
        if sub is not None:
            for key, value in annotations.items():
                sub.put_annotation(key, value)
        yield
