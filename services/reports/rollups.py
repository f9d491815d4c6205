"""Daily roll-ups of the hourly metrics: what the console reads instead of every hourly row.

One roll-up per (experiment, day) keeps that day's hourly *cells* -- ``[model, hour of day,
impressions, clicks, orders]`` -- and, for the experiment's models, the decision path of each of
its 24 hours: the hour-stratified CTR, P(best), expected loss and impressions served accumulated
since the experiment's first hour, exactly as :func:`services.reports.decision.decision_history`
computes them from every hourly row. The sums behind the path (the stratified terms and the
impressions served) are kept at the day's end, so that the next day continues from them.

Why: a page then reads one document per day (90 for a quarter) instead of one per model and hour,
and the decision rule's path over thousands of hours is computed when hours are written, a few
hours at a time, instead of at every visit. The figures are the same: the cells are the hourly
counts, and the path is the same arithmetic in the same order (running sums carried from day to
day, hour by hour).

Pure: cells and arrays in, cells, documents and :class:`BatchResult` lists out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import numpy as np

from services.experiments import Experiment
from services.parameters import ParameterBatch
from services.simulation.pbest import decision_grid
from services.statistics.decision import BatchResult
from services.statistics.stratified import hourly_terms, moments_from_sums

HOURS = 24
_HOUR = timedelta(hours=1)


class HourCounts(NamedTuple):
    """One model's counts in one hour, as a roll-up keeps them (the console's hourly row)."""

    experiment_id: str
    model_code: str
    hour: datetime
    impressions: int
    clicks: int
    orders: int = 0

    @property
    def ctr(self) -> float:
        return self.clicks / self.impressions if self.impressions else 0.0


def day_start(hour: datetime) -> datetime:
    return hour.replace(hour=0, minute=0, second=0, microsecond=0)


def day_id(experiment_id: str, day: datetime) -> str:
    # Prefixed: the embedded server cannot find a document whose string _id looks like a date.
    return f"day|{experiment_id}|{day:%Y-%m-%d}"


def cells_of(rows: Iterable[Any]) -> list[list[Any]]:
    """``[model, hour of day, impressions, clicks, orders]`` of hourly rows of one day."""
    return [
        [
            str(r.model_code),
            int(r.hour.hour),
            int(r.impressions),
            int(r.clicks),
            int(getattr(r, "orders", 0) or 0),
        ]
        for r in rows
    ]


def replace_cells(
    cells: Sequence[Sequence[Any]], day: datetime, hours: Iterable[datetime], rows: Iterable[Any]
) -> list[list[Any]]:
    """The day's cells once ``rows`` are the whole content of ``hours`` (those of this day).

    What the hourly collection does to the same hours: the replaced hours' old cells go, the new
    rows come; other hours stay as they were.
    """
    replaced = {h.hour for h in hours if day_start(h) == day}
    kept = [list(c) for c in cells if int(c[1]) not in replaced]
    new = cells_of(r for r in rows if day_start(r.hour) == day and r.hour.hour in replaced)
    return sorted(kept + new, key=lambda c: (c[1], c[0]))


def rows_of(experiment_id: str, day: datetime, cells: Iterable[Sequence[Any]]) -> list[HourCounts]:
    return [
        HourCounts(
            experiment_id, str(c[0]), day + int(c[1]) * _HOUR, int(c[2]), int(c[3]), int(c[4])
        )
        for c in cells
    ]


def rows_from_days(
    docs: Iterable[Mapping[str, Any]],
    *,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[HourCounts]:
    """Hourly rows with ``start <= hour < end`` from roll-up documents, by hour then model."""
    rows = [
        r
        for d in docs
        for r in rows_of(d["experiment_id"], d["day"], d.get("cells") or ())
        if (start is None or r.hour >= start) and (end is None or r.hour < end)
    ]
    rows.sort(key=lambda r: (r.hour, r.model_code))
    return rows


def by_day(rows: Iterable[Any]) -> list[HourCounts]:
    """Hourly rows summed per (day, model), each stamped with its day's first hour: what a chart
    of a long range draws (one point a day instead of 24)."""
    sums: dict[tuple[datetime, str], list[int]] = {}
    ids: dict[tuple[datetime, str], str] = {}
    for r in rows:
        key = (day_start(r.hour), str(r.model_code))
        cell = sums.setdefault(key, [0, 0, 0])
        cell[0] += int(r.impressions)
        cell[1] += int(r.clicks)
        cell[2] += int(getattr(r, "orders", 0) or 0)
        ids[key] = str(r.experiment_id)
    return [
        HourCounts(ids[key], key[1], key[0], *sums[key])
        for key in sorted(sums, key=lambda k: (k[0], k[1]))
    ]


def day_path(
    model_codes: Sequence[str],
    cells: Iterable[Sequence[Any]],
    sums: np.ndarray | None,
    served: np.ndarray | None,
) -> dict[str, Any]:
    """The decision path of the day's 24 hours, continuing from the previous day's running sums.

    Args:
        model_codes: The experiment's models, in its order (cells of other models are left out).
        cells: The day's cells.
        sums: The running stratified sums (2, 4, K) at the end of the previous day; None: zeros.
        served: Impressions served per model until then (K); None: zeros.

    Returns:
        Document fields: ``models``, per hour ``ctr``, ``p_best``, ``loss``, ``served`` (24 x K
        lists) and ``sums`` / ``served_end`` at the end of the day.
    """
    k = len(model_codes)
    index = {c: i for i, c in enumerate(model_codes)}
    imps = np.zeros((HOURS, k), dtype=np.int64)
    clicks = np.zeros_like(imps)
    for c in cells:
        i = index.get(str(c[0]))
        if i is not None:
            imps[int(c[1]), i] += int(c[2])
            clicks[int(c[1]), i] += int(c[3])
    start = np.zeros((2, 4, 1, k)) if sums is None else np.asarray(sums, float)[:, :, None, :]
    # The previous running sum as the first row, then one addition per hour: the same order of
    # additions as a running sum over every hour since the start.
    running = np.cumsum(np.concatenate([start, hourly_terms(imps, clicks)], axis=2), axis=2)[
        :, :, 1:, :
    ]
    ctr, _, n_eff = moments_from_sums(running)
    before = np.zeros((1, k), dtype=np.int64) if served is None else np.asarray(served)[None, :]
    total = np.cumsum(np.concatenate([before.astype(np.int64), imps]), axis=0)[1:]
    p_best, loss = decision_grid(1.0 + ctr * n_eff, 1.0 + (1.0 - ctr) * n_eff)
    return {
        "models": list(model_codes),
        "ctr": ctr.tolist(),
        "p_best": p_best.tolist(),
        "loss": loss.tolist(),
        "served": total.tolist(),
        "sums": running[:, :, -1, :].tolist(),
        "served_end": total[-1].tolist(),
    }


def decision_history_from_days(
    experiment: Experiment,
    docs: Sequence[Mapping[str, Any]],
    batches: Sequence[ParameterBatch] = (),
) -> list[BatchResult] | None:
    """:func:`~services.reports.decision.decision_history` from the stored day paths.

    None when a day lacks its path or was computed for other models (the caller then computes
    it from the hourly rows).
    """
    codes = tuple(experiment.model_codes)
    docs = sorted(docs, key=lambda d: d["day"])
    hours = [
        d["day"] + int(c[1]) * _HOUR for d in docs for c in d.get("cells") or () if c[0] in codes
    ]
    if not hours:
        return []
    if any(tuple(d.get("models") or ()) != codes or "p_best" not in d for d in docs):
        return None
    first, last = min(hours), max(hours)
    by_day = {d["day"]: d for d in docs}
    ctrl = codes.index(experiment.control_arm.model_code)
    warm_by_end = {b.window_end: b.warmup for b in batches}
    out: list[BatchResult] = []
    carried: Mapping[str, Any] | None = None
    hour = first
    while hour <= last:
        day = day_start(hour)
        doc = by_day.get(day)
        if doc is not None:
            carried = doc
            slot = hour.hour
        else:  # a day without data: the sums, hence every figure, stay at the last hour's
            slot = HOURS - 1
        assert carried is not None  # the first hour has a document
        served = carried["served"][slot]
        h = len(out)
        end = hour + _HOUR
        warm = warm_by_end.get(end)
        if warm is None:
            warm = (h + 1) < experiment.warmup_hours or any(
                s < experiment.warmup_min_impressions for s in served
            )
        out.append(
            BatchResult(
                batch_id=f"{end:%Y%m%dT%H%M}",
                warmup=bool(warm),
                model_codes=codes,
                p_best=tuple(float(x) for x in carried["p_best"][slot]),
                expected_loss=tuple(float(x) for x in carried["loss"][slot]),
                control_ctr=float(carried["ctr"][slot][ctrl]),
                has_data=all(s > 0 for s in served),
            )
        )
        hour = end
    return out
