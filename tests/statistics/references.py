"""Independent reference computations the statistics tests compare against.

None of them shares code with ``services.statistics``: a closed form, an adaptive quadrature and
a binomial sum.
"""

from __future__ import annotations

import numpy as np
from scipy import integrate, special, stats


def miller_probability_b_beats_a(a_a: int, b_a: int, a_b: int, b_b: int) -> float:
    """Evan Miller's closed form of ``P(p_B > p_A)`` for integer Beta parameters.

    ``Σ_{i=0}^{a_B-1} B(a_A+i, b_A+b_B) / ((b_B+i) B(1+i, b_B) B(a_A, b_A))``, summed in log
    space. Each log term subtracts Beta-function logs of size ~(a + b); in double precision that
    limits the result to ~1e-13 (a + b), so use it for counts up to a few thousand.
    """
    i = np.arange(a_b, dtype=np.float64)
    log_terms = (
        special.betaln(a_a + i, b_a + b_b)
        - np.log(b_b + i)
        - special.betaln(1.0 + i, b_b)
        - special.betaln(a_a, b_a)
    )
    return float(np.exp(special.logsumexp(log_terms)))


def quad_probability_b_beats_a(a_a: float, b_a: float, a_b: float, b_b: float) -> float:
    """``P(p_B > p_A) = ∫ f_A(x) (1 - F_B(x)) dx`` by adaptive quadrature in A's standard units.

    Integrating over ``z = (x - mean_A) / sd_A`` on [-14, 14] keeps the integrand at unit scale
    however many impressions arm A has; the mass outside is below 1e-40 for the near-normal
    posteriors this is used for.
    """
    mean = a_a / (a_a + b_a)
    sd = np.sqrt(a_a * b_a / ((a_a + b_a) ** 2 * (a_a + b_a + 1.0)))

    def integrand(z: float) -> float:
        x = mean + sd * z
        return sd * stats.beta.pdf(x, a_a, b_a) * stats.beta.sf(x, a_b, b_b)

    value, _ = integrate.quad(
        integrand, -14.0, 14.0, epsabs=1e-14, epsrel=1e-13, limit=500, points=[-3, -1, 0, 1, 3]
    )
    return float(value)


def beta_cdf_by_binomial_sum(a: int, b: int, x: float) -> float:
    """``I_x(a, b)`` for integer shapes as the binomial tail ``P(Bin(a + b - 1, x) >= a)``."""
    n = a + b - 1
    j = np.arange(a, n + 1, dtype=np.float64)
    log_pmf = (
        special.gammaln(n + 1.0)
        - special.gammaln(j + 1.0)
        - special.gammaln(n - j + 1.0)
        + j * np.log(x)
        + (n - j) * np.log1p(-x)
    )
    return float(np.exp(special.logsumexp(log_pmf)))
