"""The store interface: what the selector, the parameter job and the console need from storage.

The MongoDB repository (:mod:`services.mongo.repository`) is one implementation. Logic takes a
``Store`` and never a database handle, so that it can be tested and can degrade on its own terms.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from services.audit import AuditEntry
from services.experiments import Area, Experiment, Status
from services.hourly_metrics import HourlyMetric
from services.lifecycle import Action
from services.parameters import ParameterBatch, ParameterSnapshot


class Store(Protocol):
    # --- areas -----------------------------------------------------------------------------
    def save_area(self, area: Area) -> Area:
        """Create an area or change its name and default model (the active experiment stays)."""
        ...

    def get_area(self, area_code: str) -> Area:
        """Raises NotFoundError for an unknown area."""
        ...

    def list_areas(self) -> list[Area]: ...

    # --- experiments -----------------------------------------------------------------------
    def create_experiment(self, experiment: Experiment, *, by: str) -> Experiment:
        """Store a new draft at version 1. Raises ConflictError if the id is taken."""
        ...

    def get_experiment(self, experiment_id: str) -> Experiment: ...

    def list_experiments(
        self, *, area_code: str | None = None, statuses: Iterable[Status] | None = None
    ) -> list[Experiment]: ...

    def update_experiment(
        self, experiment: Experiment, *, expected_version: int, by: str
    ) -> Experiment:
        """Replace a draft's configuration. Raises StaleVersionError if it changed meanwhile."""
        ...

    def apply_action(
        self,
        experiment_id: str,
        action: Action | str,
        *,
        expected_version: int,
        by: str,
        promoted_model: str | None = None,
    ) -> Experiment:
        """Start, pause, resume or stop; enforces one running-or-paused experiment per area."""
        ...

    def active_experiment(self, area_code: str) -> Experiment | None: ...

    def audit_history(self, experiment_id: str) -> list[AuditEntry]: ...

    # --- parameters ------------------------------------------------------------------------
    def get_parameters(
        self, experiment_id: str, model_codes: Sequence[str]
    ) -> ParameterSnapshot: ...

    def save_parameter_batch(self, batch: ParameterBatch) -> bool:
        """Write the batch to the history and make it the current arm parameters unless a
        newer batch is current (idempotent). Returns whether it became current."""
        ...

    def parameter_history(
        self, experiment_id: str, *, limit: int | None = None
    ) -> list[ParameterBatch]:
        """Batches oldest first (the newest ``limit`` if given)."""
        ...

    # --- hourly metrics --------------------------------------------------------------------
    def replace_hourly_metrics(
        self, experiment_id: str, hours: Sequence[datetime], rows: Sequence[HourlyMetric]
    ) -> int:
        """Make ``rows`` the whole content of ``hours`` for the experiment (idempotent)."""
        ...

    def hourly_metrics(
        self,
        experiment_id: str,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[HourlyMetric]:
        """Rows with start <= hour < end, ordered by hour then model code."""
        ...

    # --- parameter job bookkeeping ---------------------------------------------------------
    def job_hours(self, start: datetime, end: datetime) -> dict[datetime, dict[str, Any]]:
        """The job's record of each hour in ``start <= hour < end``, by hour."""
        ...

    def save_job_hours(self, records: Sequence[dict[str, Any]]) -> None:
        """Record processed hours (each with ``hour`` and ``status``), one per hour."""
        ...

    def acquire_lease(
        self, name: str, owner: str, *, now: datetime, ttl_seconds: float, note: str = ""
    ) -> bool:
        """Take the lease if free, expired or already ``owner``'s (atomic)."""
        ...

    def renew_lease(self, name: str, owner: str, *, now: datetime, ttl_seconds: float) -> bool: ...

    def release_lease(self, name: str, owner: str) -> None: ...

    def lease(self, name: str) -> dict[str, Any] | None: ...
