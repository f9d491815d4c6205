"""Lift of a treatment model over the control model.

Analysts ask "how much better is the new model?" in relative terms: a lift of 0.15 means a CTR
15% higher than the control's. With independent posteriors ``p_c ~ Beta(a_c, b_c)`` and
``p_t ~ Beta(a_t, b_t)`` the relative lift ``(p_t - p_c) / p_c`` has no closed-form distribution,
so its credible interval comes from Monte Carlo draws. Its mean does have one, since
``E[p_t / p_c] = E[p_t] E[1 / p_c]`` and ``E[1 / p_c] = (a_c + b_c - 1) / (a_c - 1)`` for
``a_c > 1``; the probability that the treatment is better is exact too (``probability_best``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from services.exceptions import ValidationError
from services.statistics._validation import check_draws, check_probability, resolve_rng
from services.statistics.posterior import BetaPosterior
from services.statistics.probability_best import probability_best


@dataclass(frozen=True)
class Lift:
    """Relative and absolute lift of a treatment over a control.

    Attributes:
        mean: Exact posterior mean of ``(p_t - p_c) / p_c``; ``inf`` when ``a_c <= 1`` (a
            control without clicks under the uniform prior), where the expectation diverges.
        low: Lower end of the equal-tailed credible interval of the relative lift (Monte Carlo).
        high: Upper end of that interval (Monte Carlo).
        probability_better: Exact ``P(p_t > p_c)``.
        absolute_mean: Exact posterior mean of ``p_t - p_c``.
        absolute_low: Lower end of the credible interval of ``p_t - p_c`` (Monte Carlo).
        absolute_high: Upper end of that interval (Monte Carlo).
        level: Credible level of both intervals.
        draws: Monte Carlo draws behind the intervals.
        seed: Seed reproducing the intervals, or None when the caller injected a generator.
    """

    mean: float
    low: float
    high: float
    probability_better: float
    absolute_mean: float
    absolute_low: float
    absolute_high: float
    level: float
    draws: int
    seed: int | None


def lift_over_control(
    control: BetaPosterior,
    treatment: BetaPosterior,
    level: float = 0.95,
    draws: int = 100_000,
    rng: np.random.Generator | None = None,
    seed: int | None = None,
) -> Lift:
    """Posterior summary of the treatment's lift over the control.

    Args:
        control: Posterior of the control model's CTR.
        treatment: Posterior of the treatment model's CTR.
        level: Credible level of the intervals, strictly between 0 and 1.
        draws: Monte Carlo draws for the intervals.
        rng: Generator to draw from; its seed is then the caller's business.
        seed: Seed for a fresh generator. With neither ``rng`` nor ``seed`` a seed is drawn from
            the operating system and returned.

    Returns:
        The lift, with the seed that reproduces it.
    """
    for field, posterior in (("control", control), ("treatment", treatment)):
        if not isinstance(posterior, BetaPosterior):
            raise ValidationError(field, f"must be a BetaPosterior, got {type(posterior).__name__}")
    level = check_probability("level", level)
    draws = check_draws(draws)
    generator, used_seed = resolve_rng(rng, seed)

    if control.a > 1.0:
        mean = treatment.mean * (control.a + control.b - 1.0) / (control.a - 1.0) - 1.0
    else:
        mean = math.inf
    probability_better = float(
        probability_best([control.a, treatment.a], [control.b, treatment.b])[1]
    )

    p_control = generator.beta(control.a, control.b, size=draws)
    p_treatment = generator.beta(treatment.a, treatment.b, size=draws)
    difference = p_treatment - p_control
    tails = [(1.0 - level) / 2.0, (1.0 + level) / 2.0]
    with np.errstate(divide="ignore"):
        # A control draw can be exactly 0 only when a_c is tiny; it then lands in the upper tail.
        low, high = np.quantile(difference / p_control, tails)
    absolute_low, absolute_high = np.quantile(difference, tails)
    return Lift(
        mean=float(mean),
        low=float(low),
        high=float(high),
        probability_better=probability_better,
        absolute_mean=treatment.mean - control.mean,
        absolute_low=float(absolute_low),
        absolute_high=float(absolute_high),
        level=level,
        draws=draws,
        seed=used_seed,
    )
