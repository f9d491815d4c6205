"""What the simulation lab simulates: the world (a scenario) and the algorithm under test.

Both are frozen and validate themselves at construction, so a simulation never starts from an
impossible configuration; every error is a :class:`~services.exceptions.ValidationError` naming
the field, which the command line and the console page show as one line.

The algorithms mirror dynab's per-request policies (:mod:`services.algorithms`); the simulator
runs them in batched, vectorised form. "Per-event" algorithms (Thompson sampling,
epsilon-greedy, UCB1) update their counts every ``update_minutes`` of traffic (one minute by
default, about 25 impressions at 1,500 per hour) instead of after every single event: the
vectorised simulator serves a whole sub-batch from frozen counts, which is per-event updating
to within a minute of delay.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from services.exceptions import ValidationError
from services.statistics.decision import DecisionRule

#: Most arms a scenario may have: the experiment model's own limit is of the same order.
MAX_ARMS = 10
#: Longest simulated horizon, in hours (90 days).
MAX_HOURS = 90 * 24
#: Most seeds simulated at once; memory grows as seeds x requests per update.
MAX_SEEDS = 10_000
#: How an arm's CTR is estimated from hourly counts: pooled counts or hour-stratified.
ESTIMATORS = ("pooled", "stratified")


class AlgorithmKind(StrEnum):
    """The algorithms the lab compares, by their command-line names."""

    STATIC = "static"
    EPSILON_GREEDY = "epsilon-greedy"
    UCB1 = "ucb1"
    THOMPSON = "ts"
    BATCHED_THOMPSON = "bts"


def _number(field: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(field, f"must be a finite number, got {value!r}")
    return float(value)


def _whole(field: str, value: object, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, f"must be a whole number, got {value!r}")
    if value < low or (high is not None and value > high):
        upper = f" and at most {high}" if high is not None else ""
        raise ValidationError(field, f"must be at least {low}{upper}, got {value}")
    return int(value)


def _weights(field: str, values: Sequence[float]) -> tuple[float, ...]:
    """Positive-total, non-negative weights, normalised to sum to 1 (5:5 and 0.5:0.5 agree)."""
    if isinstance(values, str | bytes):
        raise ValidationError(field, "must be a list of numbers")
    out = tuple(_number(f"{field}[{i}]", v) for i, v in enumerate(values))
    if not out:
        raise ValidationError(field, "must not be empty")
    if any(w < 0 for w in out):
        raise ValidationError(field, f"must not be negative, got {list(out)}")
    total = math.fsum(out)
    if total <= 0:
        raise ValidationError(field, "must have a positive total")
    return tuple(w / total for w in out)


def _update_minutes(value: object) -> int:
    minutes = _whole("update_minutes", value, 1, 24 * 60)
    # Updates on a grid that tiles the hour keep every update inside one hour of the CTR profile.
    if 60 % minutes and minutes % 60:
        raise ValidationError(
            "update_minutes", f"must divide 60 or be a multiple of 60, got {minutes}"
        )
    return minutes


@dataclass(frozen=True)
class StaticSplit:
    """The classic A/B test: a fixed split for the whole test.

    Attributes:
        weights: Share per arm (any positive scale, e.g. ``(5, 5)``); ``None`` splits evenly.
    """

    weights: tuple[float, ...] | None = None
    kind: AlgorithmKind = AlgorithmKind.STATIC

    def __post_init__(self) -> None:
        if self.weights is not None:
            object.__setattr__(self, "weights", _weights("weights", self.weights))

    @property
    def label(self) -> str:
        if self.weights is None:
            return "static"
        return "static " + ":".join(f"{w * 10:g}" for w in self.weights)


@dataclass(frozen=True)
class EpsilonGreedy:
    """Explore uniformly with probability ``epsilon``, else serve the best observed CTR.

    Attributes:
        epsilon: Exploration rate in [0, 1].
        update_minutes: How often the counts are refreshed (1 = per event to within a minute).
    """

    epsilon: float = 0.1
    update_minutes: int = 1
    kind: AlgorithmKind = AlgorithmKind.EPSILON_GREEDY

    def __post_init__(self) -> None:
        eps = _number("epsilon", self.epsilon)
        if not 0.0 <= eps <= 1.0:
            raise ValidationError("epsilon", f"must be in [0, 1], got {eps}")
        object.__setattr__(self, "epsilon", eps)
        object.__setattr__(self, "update_minutes", _update_minutes(self.update_minutes))

    @property
    def label(self) -> str:
        return f"epsilon-greedy {self.epsilon:g}"


@dataclass(frozen=True)
class UCB1:
    """UCB1; deterministic given the counts, so it serves one arm per update.

    Attributes:
        update_minutes: How often the counts are refreshed.
    """

    update_minutes: int = 1
    kind: AlgorithmKind = AlgorithmKind.UCB1

    def __post_init__(self) -> None:
        object.__setattr__(self, "update_minutes", _update_minutes(self.update_minutes))

    @property
    def label(self) -> str:
        return "ucb1"


@dataclass(frozen=True)
class Thompson:
    """Per-event Thompson sampling on all counts since the start (no batching, no warm-up).

    Every request draws from the posteriors; the counts are refreshed every ``update_minutes``.

    Attributes:
        update_minutes: How often the counts are refreshed.
    """

    update_minutes: int = 1
    kind: AlgorithmKind = AlgorithmKind.THOMPSON

    def __post_init__(self) -> None:
        object.__setattr__(self, "update_minutes", _update_minutes(self.update_minutes))

    @property
    def label(self) -> str:
        return "ts per-event"


@dataclass(frozen=True)
class BatchedThompson:
    """dynab's dynamic test: batched Thompson sampling with warm-up and exposure floor.

    Same rules as a dynamic :class:`~services.experiments.Experiment`. The lab keeps the earlier
    defaults (24 h window, pooled counts) so that its figures compare with earlier runs; a
    dynamic experiment defaults to ``window_hours=None`` and is fed ``estimator="stratified"``.

    Attributes:
        batch_minutes: Parameter-update interval; counts are frozen in between.
        window_hours: Evaluation window the counts are taken over; ``None`` = since the start.
        warmup_hours: Hours of configured split before the bandit may decide.
        warmup_min_impressions: Impressions every arm needs in the window to end the warm-up.
        floor: Exposure floor per arm, applied additively (``f + (1 - K f) w``).
        warmup_weights: The configured split during warm-up; ``None`` splits evenly.
        estimator: What feeds the bandit's Beta: ``pooled`` counts (clicks, non-clicks over the
            window) or the ``stratified`` moment-matched Beta (``services.statistics.stratified``).
    """

    batch_minutes: int = 60
    window_hours: int | None = 24
    warmup_hours: float = 6.0
    warmup_min_impressions: int = 1000
    floor: float = 0.0
    warmup_weights: tuple[float, ...] | None = None
    estimator: str = "pooled"
    kind: AlgorithmKind = AlgorithmKind.BATCHED_THOMPSON

    def __post_init__(self) -> None:
        minutes = _whole("batch_minutes", self.batch_minutes, 1, 7 * 24 * 60)
        if 60 % minutes and minutes % 60:
            raise ValidationError(
                "batch_minutes", f"must divide 60 or be a multiple of 60, got {minutes}"
            )
        if self.window_hours is not None:
            _whole("window_hours", self.window_hours, 1, MAX_HOURS)
        warmup = _number("warmup_hours", self.warmup_hours)
        if warmup < 0:
            raise ValidationError("warmup_hours", f"must not be negative, got {warmup}")
        object.__setattr__(self, "warmup_hours", warmup)
        _whole("warmup_min_impressions", self.warmup_min_impressions, 0)
        floor = _number("floor", self.floor)
        if floor < 0:
            raise ValidationError("floor", f"must not be negative, got {floor}")
        object.__setattr__(self, "floor", floor)
        if self.warmup_weights is not None:
            object.__setattr__(
                self, "warmup_weights", _weights("warmup_weights", self.warmup_weights)
            )
        if self.estimator not in ESTIMATORS:
            raise ValidationError(
                "estimator", f"must be one of {', '.join(ESTIMATORS)}, got {self.estimator!r}"
            )

    @property
    def label(self) -> str:
        floor = f" floor {self.floor:g}" if self.floor else ""
        window = ""
        if self.window_hours is None:
            window = " cumulative"
        elif self.window_hours != 24:
            window = f" {self.window_hours}h"
        strat = " stratified" if self.estimator == "stratified" else ""
        return f"bts {self.batch_minutes}m{window}{floor}{strat}"


Algorithm = StaticSplit | EpsilonGreedy | UCB1 | Thompson | BatchedThompson


@dataclass(frozen=True)
class Scenario:
    """The simulated world: arms with true CTRs, traffic, horizon, and the seeds.

    Attributes:
        ctrs: True click-through rate per arm, each in [0, 1].
        impressions_per_hour: Requests per hour, the same every hour (deterministic, so that
            every seed and algorithm sees the same traffic).
        hours: Horizon in hours.
        hourly_profile: Optional 24 multipliers, one per hour of day, applied to every arm's
            CTR (evening browsing clicks more than night browsing); ``None`` = flat.
        arm_names: Optional name per arm, for tables and charts.
        n_seeds: Independent replications simulated at once.
        seed: Seed of the random generator; with ``n_seeds`` and the algorithm it fixes every
            result bit for bit.
        threshold: P(best) at which a winner is declared (the lab's single-threshold columns;
            the decision rule's columns use ``rule``).
        cycle_amplitude: Daily CTR cycle: each arm's CTR is multiplied by
            ``1 + a cos(2π (hour of day - peak_hour) / 24)``; one value for every arm or one per
            arm (models may react differently to the time of day). 0.6 = ±60 %.
        peak_hour: Hour of day (0-24) at which the cycle peaks.
        repeat_visits: Requests per member within an hour (1 = every request a new member).
            A member's requests share the member's own click propensity, which spreads around
            the arm's CTR with coefficient of variation ``member_spread``: clicks are
            over-dispersed as real clicks are.
        member_spread: Coefficient of variation of the members' click propensities.
        cache_ttl_seconds: The answer cache's TTL. A repeat visitor within the TTL is answered
            from the cache, i.e. with the allocation in force when the cached answer was made.
        job_latency_minutes: Minutes after the hour until a new batch's weights go live.
        ctrs_after: Drift: the arms' CTRs from ``drift_hour`` on (None = no drift).
        drift_hour: Hour at which ``ctrs_after`` take over.
        rule: The decision rule applied by the lab (``services.statistics.decision``).
    """

    ctrs: tuple[float, ...]
    impressions_per_hour: int = 1500
    hours: int = 7 * 24
    hourly_profile: tuple[float, ...] | None = None
    arm_names: tuple[str, ...] | None = None
    n_seeds: int = 200
    seed: int = 0
    threshold: float = 0.95
    cycle_amplitude: float | tuple[float, ...] = 0.0
    peak_hour: float = 20.0
    repeat_visits: float = 1.0
    member_spread: float = 0.0
    cache_ttl_seconds: int = 0
    job_latency_minutes: int = 0
    ctrs_after: tuple[float, ...] | None = None
    drift_hour: int = 0
    rule: DecisionRule = field(default_factory=DecisionRule)

    def __post_init__(self) -> None:
        if isinstance(self.ctrs, str | bytes):
            raise ValidationError("ctrs", "must be a list of numbers")
        ctrs = tuple(_number(f"ctrs[{i}]", c) for i, c in enumerate(self.ctrs))
        if not 1 <= len(ctrs) <= MAX_ARMS:
            raise ValidationError("ctrs", f"need 1 to {MAX_ARMS} arms, got {len(ctrs)}")
        for i, c in enumerate(ctrs):
            if not 0.0 <= c <= 1.0:
                raise ValidationError(f"ctrs[{i}]", f"must be in [0, 1], got {c}")
        object.__setattr__(self, "ctrs", ctrs)
        _whole("impressions_per_hour", self.impressions_per_hour, 1, 10_000_000)
        _whole("hours", self.hours, 1, MAX_HOURS)
        _whole("n_seeds", self.n_seeds, 1, MAX_SEEDS)
        _whole("seed", self.seed, 0)
        threshold = _number("threshold", self.threshold)
        if not 0.5 < threshold < 1.0:
            raise ValidationError("threshold", f"must be in (0.5, 1), got {threshold}")
        object.__setattr__(self, "threshold", threshold)
        if self.hourly_profile is not None:
            profile = tuple(
                _number(f"hourly_profile[{i}]", v) for i, v in enumerate(self.hourly_profile)
            )
            if len(profile) != 24:
                raise ValidationError("hourly_profile", f"need 24 values, got {len(profile)}")
            if any(v < 0 for v in profile):
                raise ValidationError("hourly_profile", "must not be negative")
            if max(profile) * max(ctrs) > 1.0:
                raise ValidationError("hourly_profile", "pushes a CTR above 1 at its peak hour")
            object.__setattr__(self, "hourly_profile", profile)
        if self.arm_names is not None:
            names = tuple(str(n) for n in self.arm_names)
            if len(names) != len(ctrs):
                raise ValidationError(
                    "arm_names", f"need one per arm: {len(ctrs)} arms, {len(names)} names"
                )
            if len(set(names)) != len(names):
                raise ValidationError("arm_names", "must be unique")
            object.__setattr__(self, "arm_names", names)
        self._validate_physics(ctrs)

    def _validate_physics(self, ctrs: tuple[float, ...]) -> None:
        amp = self.cycle_amplitude
        if isinstance(amp, list | tuple):
            amps = tuple(_number(f"cycle_amplitude[{i}]", a) for i, a in enumerate(amp))
            if len(amps) != len(ctrs):
                raise ValidationError(
                    "cycle_amplitude", f"need one per arm: {len(ctrs)} arms, {len(amps)} values"
                )
        else:
            amps = (_number("cycle_amplitude", amp),) * len(ctrs)
        if any(not 0.0 <= a < 1.0 for a in amps):
            raise ValidationError("cycle_amplitude", f"must be in [0, 1), got {list(amps)}")
        object.__setattr__(self, "cycle_amplitude", amps)
        peak = _number("peak_hour", self.peak_hour)
        if not 0.0 <= peak <= 24.0:
            raise ValidationError("peak_hour", f"must be in [0, 24], got {peak}")
        object.__setattr__(self, "peak_hour", peak)
        visits = _number("repeat_visits", self.repeat_visits)
        if not 1.0 <= visits <= 100.0:
            raise ValidationError("repeat_visits", f"must be in [1, 100], got {visits}")
        object.__setattr__(self, "repeat_visits", visits)
        spread = _number("member_spread", self.member_spread)
        if not 0.0 <= spread <= 3.0:
            raise ValidationError("member_spread", f"must be in [0, 3], got {spread}")
        object.__setattr__(self, "member_spread", spread)
        _whole("cache_ttl_seconds", self.cache_ttl_seconds, 0, 3600)
        if self.cache_ttl_seconds % 60:
            raise ValidationError(
                "cache_ttl_seconds", f"must be whole minutes, got {self.cache_ttl_seconds}"
            )
        _whole("job_latency_minutes", self.job_latency_minutes, 0, 59)
        after = self.ctrs_after
        if after is not None:
            after = tuple(_number(f"ctrs_after[{i}]", c) for i, c in enumerate(after))
            if len(after) != len(ctrs) or any(not 0.0 <= c <= 1.0 for c in after):
                raise ValidationError("ctrs_after", "need one CTR in [0, 1] per arm")
            object.__setattr__(self, "ctrs_after", after)
        _whole("drift_hour", self.drift_hour, 0, MAX_HOURS)
        if not isinstance(self.rule, DecisionRule):
            raise ValidationError("rule", "must be a DecisionRule")
        peak_ctr = max(max(ctrs), max(after or ctrs)) * (1.0 + max(amps))
        scale = max(self.hourly_profile) if self.hourly_profile is not None else 1.0
        if peak_ctr * scale > 1.0:
            raise ValidationError("cycle_amplitude", "pushes a CTR above 1 at its peak hour")

    @property
    def n_arms(self) -> int:
        return len(self.ctrs)

    @property
    def names(self) -> tuple[str, ...]:
        """Arm names, ``A``, ``B``, ... when none were given."""
        return self.arm_names or tuple(chr(ord("A") + i) for i in range(self.n_arms))

    def ctr_at(self, hour: int) -> tuple[float, ...]:
        """Every arm's true CTR during simulated hour ``hour`` (0 = the test's first hour).

        The cycle is evaluated at the middle of the hour, so that a day of it averages to 1.
        """
        scale = 1.0 if self.hourly_profile is None else self.hourly_profile[hour % 24]
        base = self.ctrs if self.ctrs_after is None or hour < self.drift_hour else self.ctrs_after
        phase = 2.0 * math.pi * ((hour % 24) + 0.5 - self.peak_hour) / 24.0
        amps = self.cycle_amplitude
        assert isinstance(amps, tuple)
        return tuple(
            c * scale * (1.0 + a * math.cos(phase)) for c, a in zip(base, amps, strict=True)
        )

    @property
    def final_ctrs(self) -> tuple[float, ...]:
        """The arms' daily-mean CTRs at the end of the test (after any drift)."""
        return self.ctrs if self.ctrs_after is None else self.ctrs_after

    @property
    def best_arm(self) -> int | None:
        """The arm with the highest daily-mean CTR at the end, or ``None`` when several share it.

        The cycle averages to 1 over a day, so this is the best arm on any whole day.
        """
        ctrs = self.final_ctrs
        top = max(ctrs)
        leaders = [i for i, c in enumerate(ctrs) if c == top]
        return leaders[0] if len(leaders) == 1 else None


def check_algorithm(algorithm: Algorithm, scenario: Scenario) -> None:
    """Check the settings of ``algorithm`` that depend on the scenario's number of arms.

    Raises:
        ValidationError: On a weight list of the wrong length or a floor too large for K arms.
    """
    if not isinstance(algorithm, StaticSplit | EpsilonGreedy | UCB1 | Thompson | BatchedThompson):
        raise ValidationError("algorithm", f"unknown algorithm {algorithm!r}")
    k = scenario.n_arms
    for name in ("weights", "warmup_weights"):
        weights = getattr(algorithm, name, None)
        if weights is not None and len(weights) != k:
            raise ValidationError(name, f"need one per arm: {k} arms, {len(weights)} weights")
    if isinstance(algorithm, BatchedThompson) and algorithm.floor * k >= 1:
        raise ValidationError(
            "floor",
            f"floor x arms must be below 1 ({algorithm.floor} x {k} arms), "
            "or no traffic is left for the bandit",
        )


def algorithm_named(
    name: str,
    *,
    weights: tuple[float, ...] | None = None,
    epsilon: float = 0.1,
    batch_minutes: int = 60,
    window_hours: int | None = 24,
    warmup_hours: float = 6.0,
    warmup_min_impressions: int = 1000,
    floor: float = 0.0,
    estimator: str = "pooled",
) -> Algorithm:
    """Build an algorithm from its command-line name and the settings that apply to it.

    ``weights`` is the static split and also bTS's warm-up split, as in a dynamic experiment,
    whose configured weights serve during warm-up.

    Raises:
        ValidationError: On an unknown name or an invalid setting.
    """
    try:
        kind = AlgorithmKind(name.strip().lower())
    except ValueError:
        known = ", ".join(k.value for k in AlgorithmKind)
        raise ValidationError("algorithms", f"unknown algorithm {name!r}; known: {known}") from None
    if kind is AlgorithmKind.STATIC:
        return StaticSplit(weights)
    if kind is AlgorithmKind.EPSILON_GREEDY:
        return EpsilonGreedy(epsilon)
    if kind is AlgorithmKind.UCB1:
        return UCB1()
    if kind is AlgorithmKind.THOMPSON:
        return Thompson()
    return BatchedThompson(
        batch_minutes=batch_minutes,
        window_hours=window_hours,
        warmup_hours=warmup_hours,
        warmup_min_impressions=warmup_min_impressions,
        floor=floor,
        warmup_weights=weights,
        estimator=estimator,
    )
