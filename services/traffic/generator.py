"""A seeded, vectorised generator of realistic event logs.

Per hour: impressions at uniform times, members drawn with a skew (repeat visits), a model per
request from a fixed split or from a ``choose_model`` callback (a gateway, or the selection
algorithms), each impression with the ``batch_id`` and ``propensity`` of its choice, clicks
with the arm's true CTR after a log-normal delay (some cross into the next hour's partition),
orders after clicks, and on request duplicates, orphan clicks and malformed lines. Hour ``h``
draws from ``numpy.random.default_rng((seed, h))`` only, so a run is reproducible and an hour
does not depend on how many hours are generated.

``generate_hour`` also returns the *truth*: the per-experiment, model and hour counts that a
correct parameter job must find (clicks within the attribution window), computed from the
generator's own arrays, not from the written logs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import pandas as pd

from services.events.schema import LINE_COLUMNS, check_propensity
from services.events.writer import EventLogWriter
from services.exceptions import ValidationError
from services.traffic.config import TrafficConfig

#: ``choose_model(member_id, area_code, ts)`` returns ``(experiment_id, model_code)`` or
#: ``(experiment_id, model_code, batch_id, propensity)`` -- the selector's answer; an
#: ``experiment_id`` of None means no experiment runs there and the request is not logged.
#: Without the last two the impression is logged without them (as old logs are).
Choice = tuple[str | None, str | None] | tuple[str | None, str | None, str | None, float | None]
ChooseModel = Callable[[str, str, datetime], Choice]

HOUR_MS = 3_600_000
ATTRIBUTION_MS = HOUR_MS
ITEMS = 5000
#: Written with 15 decimals; a smaller propensity would print as 0, so it is left unstated.
MIN_WRITTEN_PROPENSITY = 1e-15


@dataclass
class HourTraffic:
    """One generated hour: its events, the malformed lines, and the truth.

    ``events`` holds one row per logged event (duplicates included) with ``ts_ms`` (epoch
    milliseconds) beside the JSON columns; ``truth`` has experiment_id, model_code, hour,
    impressions, clicks, orders, unique_members.
    """

    hour: datetime
    events: pd.DataFrame
    malformed: list[str]
    truth: pd.DataFrame
    counts: dict[str, int]
    by_experiment: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass
class TrafficSummary:
    """Totals of a run; ``by_experiment`` has the injected problems per experiment."""

    hours: int = 0
    lines: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    by_experiment: dict[str, dict[str, int]] = field(default_factory=dict)
    truth: pd.DataFrame | None = None

    def add(self, hour: HourTraffic) -> None:
        self.hours += 1
        self.lines += len(hour.events) + len(hour.malformed)
        for key, value in hour.counts.items():
            self.counts[key] = self.counts.get(key, 0) + value
        for experiment_id, counts in hour.by_experiment.items():
            mine = self.by_experiment.setdefault(experiment_id, {})
            for key, value in counts.items():
                mine[key] = mine.get(key, 0) + value


def _epoch_ms(moment: datetime) -> int:
    return int((moment - datetime(1970, 1, 1)).total_seconds() * 1000)


def _member_cdf(config: TrafficConfig) -> np.ndarray:
    ranks = np.arange(1, config.members + 1, dtype=float)
    weights = ranks**-config.member_skew
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


def _fixed_split(
    config: TrafficConfig, area: np.ndarray, u: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Arm index per request under the configured weights of its area's arms, and the share
    of the arm chosen (its propensity)."""
    arm = np.empty(area.size, dtype=np.int64)
    share = np.empty(area.size)
    for a, code in enumerate(config.area_codes):
        idx = [i for i, spec in enumerate(config.arms) if spec.area_code == code]
        weights = np.array([config.arms[i].weight for i in idx])
        cum = np.cumsum(weights) / weights.sum()
        mask = area == a
        local = np.minimum(np.searchsorted(cum, u[mask], side="right"), len(idx) - 1)
        arm[mask] = np.asarray(idx)[local]
        share[mask] = (weights / weights.sum())[local]
    return arm, share


def _callback_split(
    config: TrafficConfig,
    choose: ChooseModel,
    members: np.ndarray,
    area: np.ndarray,
    ts_ms: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Arm index per request as ``choose`` decides (-1: no experiment, not logged), with the
    batch id (None when not stated) and propensity (NaN when not stated) of each answer."""
    lookup = {(s.experiment_id, s.model_code): i for i, s in enumerate(config.arms)}
    areas = config.area_codes
    out = np.empty(area.size, dtype=np.int64)
    batch_ids = np.full(area.size, None, dtype=object)
    propensities = np.full(area.size, np.nan)
    for i in range(area.size):
        ts = datetime(1970, 1, 1) + timedelta(milliseconds=int(ts_ms[i]))
        choice = choose(f"M{members[i]:07d}", areas[area[i]], ts)
        experiment_id, model_code = choice[0], choice[1]
        if experiment_id is None:
            out[i] = -1
            continue
        try:
            out[i] = lookup[(experiment_id, model_code)]
        except KeyError:
            raise ValidationError(
                "choose_model",
                f"returned {experiment_id}/{model_code}, which is not one of the arms",
            ) from None
        if len(choice) == 4:
            batch_id, propensity = choice[2], choice[3]  # type: ignore[misc]
            if batch_id is not None:
                if not isinstance(batch_id, str) or not batch_id:
                    raise ValidationError("choose_model", f"returned batch_id {batch_id!r}")
                batch_ids[i] = batch_id
            if propensity is not None:
                propensities[i] = check_propensity(propensity)
    return out, batch_ids, propensities


def _iso(ts_ms: np.ndarray) -> np.ndarray:
    text = np.datetime_as_string(ts_ms.astype("datetime64[ms]"), unit="ms")
    return np.char.add(text, "Z").astype(object)


def _malformed_lines(rng: np.random.Generator, sample: list[str], count: int) -> list[str]:
    """Lines a faulty client might write: cut short, not JSON, a field missing or wrong."""
    out: list[str] = []
    for i in range(count):
        line = sample[i % len(sample)] if sample else '{"event_id":"x"}'
        kind = int(rng.integers(0, 5))
        if kind == 0:
            out.append(line[: max(1, len(line) // 2)])
        elif kind == 1:
            out.append("<html>502 Bad Gateway</html>")
        else:
            data = json.loads(line)
            if kind == 2:
                data.pop("request_id", None)
            elif kind == 3:
                data["event_type"] = "hover"
            else:
                data["ts"] = "yesterday at noon"
            out.append(json.dumps(data, separators=(",", ":")))
    return out


def generate_hour(
    config: TrafficConfig, hour_index: int, choose: ChooseModel | None = None
) -> HourTraffic:
    """Generate the impressions of hour ``start + hour_index`` and what follows them."""
    rng = np.random.default_rng((config.seed, hour_index))
    hour = config.start + timedelta(hours=hour_index)
    base = _epoch_ms(hour)
    n = config.requests_per_hour
    n_areas = len(config.area_codes)

    ts_imp = base + np.sort(rng.integers(0, HOUR_MS, n))
    members = np.searchsorted(_member_cdf(config), rng.random(n), side="right")
    members = np.minimum(members, config.members - 1)
    area = rng.integers(0, n_areas, n)
    u = rng.random(n)
    # A view's number is its place among the hour's generated views, fixed before any is dropped:
    # a restart that regenerates the hour and skips the views already served numbers the rest
    # as before, so its events never reuse an earlier run's ids.
    slot = np.arange(n)
    if choose is None:
        # A fixed split is one policy for ever: no batch, the arm's share as propensity.
        arm, propensity = _fixed_split(config, area, u)
        batch_ids = np.full(n, None, dtype=object)
    else:
        arm, batch_ids, propensity = _callback_split(config, choose, members, area, ts_imp)
        keep = arm >= 0
        ts_imp, members, area, arm = ts_imp[keep], members[keep], area[keep], arm[keep]
        batch_ids, propensity = batch_ids[keep], propensity[keep]
        slot = slot[keep]
        n = int(keep.sum())
    propensity = np.where(propensity >= MIN_WRITTEN_PROPENSITY, propensity, np.nan)

    ctr = np.array([s.ctr for s in config.arms])[arm]
    order_given_click = np.array([s.order_rate / s.ctr if s.ctr > 0 else 0.0 for s in config.arms])[
        arm
    ]
    clicked = rng.random(n) < ctr
    delay = rng.lognormal(np.log(config.click_delay_median_seconds), config.click_delay_sigma, n)
    click_delay_ms = np.clip(delay * 1000, 200, 50 * 60_000).astype(np.int64)
    late = clicked & (rng.random(n) < config.late_click_share)
    click_delay_ms[late] = rng.integers(61 * 60_000, 3 * HOUR_MS, int(late.sum()))
    ordered = clicked & (rng.random(n) < order_given_click)
    order_delay = rng.lognormal(np.log(config.order_delay_median_seconds), 0.8, n)
    order_delay_ms = click_delay_ms + np.clip(order_delay * 1000, 1000, 55 * 60_000).astype(
        np.int64
    )

    prefix = f"{config.seed:x}-{hour:%Y%m%d%H}-"
    request_ids = np.array([f"{prefix}{i:06d}" for i in slot], dtype=object)
    member_ids = np.array([f"M{m:07d}" for m in range(config.members)], dtype=object)[members]
    area_codes = np.array(config.area_codes, dtype=object)[area]
    experiment_ids = np.array([s.experiment_id for s in config.arms], dtype=object)[arm]
    model_codes = np.array([s.model_code for s in config.arms], dtype=object)[arm]
    items = np.array([f"I{i:05d}" for i in range(ITEMS)], dtype=object)

    def block(mask: np.ndarray, kind: str, suffix: str, ts: np.ndarray) -> pd.DataFrame:
        k = int(mask.sum())
        return pd.DataFrame(
            {
                "event_id": request_ids[mask] + suffix,
                "event_type": kind,
                "request_id": request_ids[mask],
                "ts_ms": ts[mask],
                "member_id": member_ids[mask],
                "area_code": area_codes[mask],
                "experiment_id": experiment_ids[mask],
                "model_code": model_codes[mask],
                "item_id": items[rng.integers(0, ITEMS, k)] if kind != "impression" else None,
                # What chose the model travels with the impression only.
                "batch_id": batch_ids[mask] if kind == "impression" else None,
                "propensity": propensity[mask] if kind == "impression" else np.nan,
            }
        )

    everyone = np.ones(n, dtype=bool)
    frames = [
        block(everyone, "impression", ":i", ts_imp),
        block(clicked, "click", ":c", ts_imp + click_delay_ms),
        block(ordered, "order", ":o", ts_imp + order_delay_ms),
    ]
    by_experiment: dict[str, dict[str, int]] = {
        s.experiment_id: dict.fromkeys(
            ("duplicates", "orphan_clicks", "late_clicks", "late_orders"), 0
        )
        for s in config.arms
    }

    def tally(key: str, ids: np.ndarray) -> None:
        values, counts = np.unique(ids.astype(str), return_counts=True)
        for experiment_id, count in zip(values, counts, strict=True):
            by_experiment[str(experiment_id)][key] += int(count)

    tally("late_clicks", experiment_ids[clicked & (click_delay_ms > ATTRIBUTION_MS)])
    tally("late_orders", experiment_ids[ordered & (order_delay_ms > ATTRIBUTION_MS)])
    n_orphans = round(config.orphan_click_share * int(clicked.sum()))
    if n_orphans:
        src = rng.integers(0, n, n_orphans)
        orphan_ids = np.array([f"{prefix}x{i:06d}" for i in range(n_orphans)], dtype=object)
        orphan = pd.DataFrame(
            {
                "event_id": orphan_ids + ":c",
                "event_type": "click",
                "request_id": orphan_ids,
                "ts_ms": base + rng.integers(0, HOUR_MS, n_orphans),
                "member_id": member_ids[src],
                "area_code": area_codes[src],
                "experiment_id": experiment_ids[src],
                "model_code": model_codes[src],
                "item_id": items[rng.integers(0, ITEMS, n_orphans)],
                "batch_id": None,
                "propensity": np.nan,
            }
        )
        frames.append(orphan)
        tally("orphan_clicks", experiment_ids[src])
    events = pd.concat(frames, ignore_index=True)
    n_dups = round(config.duplicate_share * len(events))
    if n_dups:
        copies = events.iloc[rng.choice(len(events), n_dups, replace=False)]
        tally("duplicates", copies["experiment_id"].to_numpy())
        events = pd.concat([events, copies], ignore_index=True)
    events = events.sort_values("ts_ms", kind="stable", ignore_index=True)
    events.insert(3, "ts", _iso(events["ts_ms"].to_numpy()))

    n_malformed = round(config.malformed_share * len(events))
    malformed: list[str] = []
    if n_malformed:
        sample = events.iloc[rng.integers(0, len(events), min(n_malformed, 50))]
        malformed = _malformed_lines(rng, to_lines(sample), n_malformed)

    on_time_click = clicked & (click_delay_ms <= ATTRIBUTION_MS)
    on_time_order = ordered & (order_delay_ms <= ATTRIBUTION_MS)
    truth = (
        pd.DataFrame(
            {
                "experiment_id": experiment_ids,
                "model_code": model_codes,
                "member_id": member_ids,
                "clicks": on_time_click.astype(np.int64),
                "orders": on_time_order.astype(np.int64),
            }
        )
        .groupby(["experiment_id", "model_code"], sort=True)
        .agg(
            impressions=("clicks", "size"),
            clicks=("clicks", "sum"),
            orders=("orders", "sum"),
            unique_members=("member_id", "nunique"),
        )
        .reset_index()
    )
    truth.insert(2, "hour", hour)
    counts = {
        "impressions": n,
        "clicks": int(clicked.sum()),
        "orders": int(ordered.sum()),
        "late_clicks": int((clicked & (click_delay_ms > ATTRIBUTION_MS)).sum()),
        "late_orders": int((ordered & (order_delay_ms > ATTRIBUTION_MS)).sum()),
        "orphan_clicks": n_orphans,
        "duplicates": n_dups,
        "malformed_lines": n_malformed,
    }
    return HourTraffic(hour, events, malformed, truth, counts, by_experiment)


def to_lines(events: pd.DataFrame) -> list[str]:
    """The events as JSON lines in the event schema (optional fields only where they are set)."""
    if events.empty:
        return []
    columns = [c for c in LINE_COLUMNS if c in events.columns]
    text = events.loc[:, columns].to_json(orient="records", lines=True, double_precision=15)
    # pandas writes absent optional fields as null; the schema leaves the key out instead.
    return [
        line.replace(',"item_id":null', "")
        .replace(',"batch_id":null', "")
        .replace(',"propensity":null', "")
        for line in text.splitlines()
    ]


def write_hour(traffic: HourTraffic, writer: EventLogWriter) -> None:
    """Write an hour's events into the partitions of their own hours (clicks may spill over)."""
    part = (traffic.events["ts_ms"].to_numpy() // HOUR_MS) * HOUR_MS
    for ms in np.unique(part):
        rows = traffic.events[part == ms]
        writer.write_lines(datetime(1970, 1, 1) + timedelta(milliseconds=int(ms)), to_lines(rows))
    if traffic.malformed:
        writer.write_lines(traffic.hour, traffic.malformed)


def generate(
    config: TrafficConfig,
    writer: EventLogWriter,
    *,
    choose: ChooseModel | None = None,
    progress: Callable[[int, int, HourTraffic], None] | None = None,
) -> TrafficSummary:
    """Generate every hour of ``config`` into ``writer``; returns the counts and the truth."""
    summary = TrafficSummary()
    truths = []
    for h in range(config.hours):
        traffic = generate_hour(config, h, choose)
        write_hour(traffic, writer)
        summary.add(traffic)
        truths.append(traffic.truth)
        if progress is not None:
            progress(h + 1, config.hours, traffic)
    writer.flush()
    summary.truth = pd.concat(truths, ignore_index=True)
    return summary
