"""Per-arm (impressions, clicks) counts, the input of the simulation-only policies."""

from __future__ import annotations

from collections.abc import Sequence

from services.algorithms.base import check_counts
from services.exceptions import ValidationError


def check_impressions_clicks(
    impressions: Sequence[int], clicks: Sequence[int]
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Return both as tuples after checking one pair per arm and clicks <= impressions."""
    imps = check_counts("impressions", impressions)
    clks = check_counts("clicks", clicks)
    if len(imps) != len(clks):
        raise ValidationError(
            "clicks", f"need one per arm: {len(imps)} impression counts but {len(clks)} clicks"
        )
    for i, (n, c) in enumerate(zip(imps, clks, strict=True)):
        if c > n:
            raise ValidationError(f"clicks[{i}]", f"{c} clicks is more than {n} impressions")
    return imps, clks
