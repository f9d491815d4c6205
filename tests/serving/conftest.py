"""Builders for the serving tests: areas and experiments stored in the embedded MongoDB."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest

from services.clock import FixedClock
from services.experiments import Experiment
from services.lifecycle import Action
from services.mongo.repository import MongoStore
from services.parameters import BatchArm, ParameterBatch
from services.selection import clear_cache
from services.serving.config_cache import ConfigurationCache
from services.serving.observability import ListLog
from services.serving.service import SelectorService
from services.serving.settings import ServingSettings
from tests.foundation.factories import area, arms, experiment

MAIN_DEFAULT = "MAIN-DEFAULT-01"


@pytest.fixture(autouse=True)
def _fresh_plan_cache() -> Iterator[None]:
    clear_cache()
    yield
    clear_cache()


def start_experiment(store: MongoStore, **overrides: Any) -> Experiment:
    """Create the area (if needed) and a running experiment in it."""
    code = overrides.get("area_code", "MAIN")
    store.save_area(area(code, MAIN_DEFAULT))
    exp = store.create_experiment(experiment(**overrides), by="test")
    return store.apply_action(exp.experiment_id, Action.START, expected_version=1, by="test")


def save_batch(
    store: MongoStore,
    exp: Experiment,
    counts: Sequence[tuple[int, int]],
    *,
    batch_id: str = "B-0001",
    warmup: bool = False,
) -> None:
    """Store a parameter batch with (clicks, non-clicks) per arm and equal weights."""
    n = len(counts)
    store.save_parameter_batch(
        ParameterBatch(
            experiment_id=exp.experiment_id,
            batch_id=batch_id,
            window_start=datetime(2026, 11, 27, 9),
            window_end=datetime(2026, 11, 28, 9),
            arms=tuple(
                BatchArm(code, a, b, None, 1.0 / n)
                for code, (a, b) in zip(exp.model_codes, counts, strict=True)
            ),
            warmup=warmup,
        )
    )


def make_service(
    store: MongoStore,
    clock: FixedClock,
    *,
    refresh_seconds: float = 30.0,
    area_defaults: dict[str, str] | None = None,
    log: ListLog | None = None,
) -> SelectorService:
    cache = ConfigurationCache(store, clock, refresh_seconds=refresh_seconds)
    settings = ServingSettings(refresh_seconds=refresh_seconds, area_defaults=area_defaults or {})
    return SelectorService(
        cache, clock, log if log is not None else ListLog(), settings, np.random.default_rng(7)
    )


def ten_arms() -> tuple:
    return arms(*(f"M-{i:02d}" for i in range(10)))


LATER = timedelta(days=2)
