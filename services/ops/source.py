"""The one interface every operations source implements."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol, runtime_checkable

from services.ops.figures import ApiPeriod, ModelCount, ServiceNode


@runtime_checkable
class OpsSource(Protocol):
    """Operations figures of the serving path over a window ``[start, end)`` (naive UTC).

    Implementations align the window to whole periods (see
    :func:`services.ops.figures.align_window`) and raise
    :class:`services.ops.exceptions.OpsSourceError` when they cannot answer.
    """

    #: Short name shown in the console ("aws", "embedded").
    name: str

    def api_metrics(
        self, start: datetime, end: datetime, period_seconds: int = 3600
    ) -> list[ApiPeriod]:
        """Requests, cache hits/misses, 4xx/5xx and latency per period, oldest first.

        Periods without any data are left out; a chart shows them as gaps.
        """
        ...

    def model_counts(
        self, start: datetime, end: datetime, bin_seconds: int = 3600
    ) -> list[ModelCount]:
        """How often the selector returned each model code, per experiment, reason and bin."""
        ...

    def service_map(self, start: datetime, end: datetime) -> list[ServiceNode] | None:
        """The X-Ray service map summarised per node; ``None`` when the source has no tracing."""
        ...
