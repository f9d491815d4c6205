"""The selection service: a valid request in, an HTTP status and a JSON body out.

It always tries to return a model. In order:

1. the area's configuration from the :class:`ConfigurationCache` (fresh, or last-known while the
   store is down);
2. no experiment in the area -> the area's default model, reason ``default``;
3. an experiment -> :func:`services.selection.select_model` (``warmup`` / ``bts`` / ``static`` /
   ``paused``); if the algorithm fails on stored data, the area's default, reason ``fallback``;
4. the store is down and the area was never loaded -> the configured default for the area
   (``DYNAB_AREA_DEFAULTS``), reason ``fallback``; with none configured, ``503``.

An unknown area is ``404``. Every degradation is logged through the :class:`SelectionLog`.

Every ``200`` answer carries the ``batch_id`` and the ``propensity`` of the model served (the
probability the policy in force gave it; 1 for ``paused``, ``default`` and ``fallback``), so
that the impression logged from it can be weighted and checked against its own batch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from services.algorithms.base import Reason, Selection
from services.clock import Clock
from services.exceptions import NotFoundError, StoreUnavailableError
from services.selection import select_model
from services.serving.config_cache import AreaConfig, ConfigurationCache
from services.serving.observability import SelectionLog, member_hash, selection_record
from services.serving.request import SelectRequest
from services.serving.settings import ServingSettings
from services.serving.tracing import subsegment


@dataclass(frozen=True, slots=True)
class SelectResult:
    """An HTTP status and its JSON body."""

    status: int
    body: Mapping[str, Any]


class SelectorService:
    """Answers "which model serves member M in area A now?"."""

    def __init__(
        self,
        cache: ConfigurationCache,
        clock: Clock,
        log: SelectionLog,
        settings: ServingSettings | None = None,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.cache = cache
        self.clock = clock
        self.log = log
        self.settings = settings or ServingSettings()
        self.rng = rng if rng is not None else np.random.default_rng()

    def select(self, request: SelectRequest) -> SelectResult:
        area_code = request.area_code
        now = self.clock.now()
        experiment_id: str | None = None
        stale = False
        try:
            with subsegment("load_configuration", area_code=area_code):
                config = self.cache.get(area_code)
        except NotFoundError:
            return SelectResult(404, {"error": f"unknown area {area_code!r}"})
        except StoreUnavailableError as exc:
            model = self.settings.default_model(area_code)
            self.log.error(
                "store unavailable and area not cached",
                area_code=area_code,
                error=str(exc),
                served=model,
            )
            if model is None:
                return SelectResult(
                    503,
                    {"error": f"the store is unavailable and area {area_code!r} has no default"},
                )
            selection = Selection(model, Reason.FALLBACK, propensity=1.0)
        else:
            stale = config.stale
            experiment_id = config.experiment.experiment_id if config.experiment else None
            with subsegment("select_model", area_code=area_code):
                selection = self._select(config, request, now)
        self.log.selection(
            selection_record(
                at=now,
                area_code=area_code,
                experiment_id=experiment_id,
                selection=selection,
                member=member_hash(request.member_id, self.settings.member_hash_key),
                stale=stale,
            )
        )
        return SelectResult(
            200,
            {
                "area_code": area_code,
                "experiment_id": experiment_id,
                "model_code": selection.model_code,
                "reason": str(selection.reason),
                "batch_id": selection.batch_id,
                "propensity": selection.propensity,
            },
        )

    def _select(self, config: AreaConfig, request: SelectRequest, now: Any) -> Selection:
        if config.experiment is None or config.snapshot is None:
            return Selection(config.area.default_model, Reason.DEFAULT, propensity=1.0)
        try:
            return select_model(
                config.experiment, config.snapshot, request.member_id, now, self.rng
            )
        except Exception as exc:
            self.log.error(
                "selection failed; serving the area default",
                area_code=request.area_code,
                experiment_id=config.experiment.experiment_id,
                error=f"{type(exc).__name__}: {exc}",
            )
            return Selection(
                config.area.default_model, Reason.FALLBACK, config.snapshot.batch_id, None, 1.0
            )
