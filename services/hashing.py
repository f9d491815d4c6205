"""Stable member hashing: a member id (and salts) to a number in [0, 1), then to a bucket.

The static split, the sticky bTS mode and the sticky warm-up all place a member by hashing it,
so that the same member gets the same model on every request, in every Lambda instance and in
every Python version. Python's built-in ``hash()`` is salted per process, so it is never used.

The hash is reproducible outside Python (for example in Spark SQL, to check a split offline):
``sha256`` of the parts, each written as ``<length in characters>:<part>`` and concatenated, in
UTF-8; the first 8 bytes as a big-endian unsigned integer, keeping its top 53 bits, divided by
2**53.
"""

from __future__ import annotations

import hashlib
import math
import os
import secrets
from bisect import bisect_right
from collections.abc import Sequence
from itertools import accumulate
from pathlib import Path

from services.exceptions import ValidationError

#: 2**-53: a double holds 53 significant bits, so 53 hash bits divided by 2**53 is exact.
_UNIT = 2.0**-53


def unit_hash(*parts: str) -> float:
    """Hash strings to a float uniformly distributed in [0, 1), stable everywhere.

    Each part is length-prefixed rather than joined with a separator: with a separator,
    ``("a|b", "c")`` and ``("a", "b|c")`` would collide, and a member id is user input that may
    contain any character.

    Args:
        *parts: The strings to hash, e.g. ``(member_id, experiment_id, batch_id)``. Order matters.

    Returns:
        A float in [0, 1).

    Raises:
        ValidationError: If no part is given or a part is not a string.
    """
    if not parts:
        raise ValidationError("parts", "unit_hash needs at least one string to hash")
    for i, part in enumerate(parts):
        if not isinstance(part, str):
            raise ValidationError(f"parts[{i}]", f"must be a string, got {type(part).__name__}")
    # surrogatepass: a malformed member id from a query string must still hash, not crash.
    data = "".join(f"{len(p)}:{p}" for p in parts).encode("utf-8", "surrogatepass")
    top = int.from_bytes(hashlib.sha256(data).digest()[:8], "big")
    # Dividing all 64 bits by 2**64 would round values within 2**-54 of 1 up to exactly 1.0;
    # keeping the top 53 bits makes the result exact and strictly below 1.
    return (top >> 11) * _UNIT


def cumulative_weights(weights: Sequence[float]) -> tuple[float, ...]:
    """Validate weights and return their running sums, for :func:`bucket_of`.

    Args:
        weights: Non-negative finite weights with a positive total (they need not sum to 1).

    Returns:
        The cumulative sums, the last one being the total.

    Raises:
        ValidationError: If the weights are empty, negative, not finite or all zero.
    """
    values = tuple(float(w) for w in weights)
    if not values:
        raise ValidationError("weights", "at least one weight is needed")
    for i, w in enumerate(values):
        if not math.isfinite(w) or w < 0:
            raise ValidationError(f"weights[{i}]", f"must be a non-negative number, got {w!r}")
    cum = tuple(accumulate(values))
    if cum[-1] <= 0:
        raise ValidationError("weights", "at least one weight must be positive")
    return cum


def bucket_of(u: float, cumulative: Sequence[float]) -> int:
    """Place ``u`` in [0, 1) in already validated cumulative weights (the hot path, no checks).

    Args:
        u: A number in [0, 1), e.g. from :func:`unit_hash` or ``rng.random()``.
        cumulative: Running sums of the weights, as from :func:`cumulative_weights`.

    Returns:
        The index of the bucket: ``k`` with ``cumulative[k-1] <= u * total < cumulative[k]``.
    """
    total = cumulative[-1]
    # bisect_right skips zero-width buckets: a zero weight is never chosen.
    k = bisect_right(cumulative, u * total)
    if k == len(cumulative):
        # u * total can round up to the total itself; the top belongs to the last bucket that
        # has any width, never to a zero-weight arm after it.
        k -= 1
        while k > 0 and cumulative[k] == cumulative[k - 1]:
            k -= 1
    return k


def pick_bucket(u: float, weights: Sequence[float]) -> int:
    """Place ``u`` in [0, 1) in the cumulative ``weights`` and return the bucket's index.

    Bucket ``k`` is ``u`` in ``[sum(w[:k]), sum(w[:k+1]))`` after scaling the weights to sum to
    1, so a uniform ``u`` lands in bucket ``k`` with probability ``w[k] / sum(w)``. Never returns
    the index of a zero weight, even when rounding leaves the cumulative total a hair below 1.

    Args:
        u: A number in [0, 1).
        weights: Non-negative finite weights with a positive total.

    Returns:
        An index into ``weights``.

    Raises:
        ValidationError: If ``u`` is outside [0, 1) or the weights are invalid.
    """
    if isinstance(u, bool) or not isinstance(u, int | float) or not 0.0 <= u < 1.0:
        raise ValidationError("u", f"must be a number in [0, 1), got {u!r}")
    return bucket_of(float(u), cumulative_weights(weights))


#: File under the data folder holding the embedded stack's member-hash key.
LOCAL_KEY_FILE = "member-hash.key"


def local_member_hash_key(data_dir: Path) -> str:
    """The embedded stack's member-hash key: random, made once, kept under ``data_dir``.

    The key of the HMAC that hides member ids in logs must be secret (a public key lets anyone
    hash candidate ids and match them); it must also stay the same across restarts, so that a
    member's hash does. On AWS the key comes from Secrets Manager instead.
    """
    path = Path(data_dir) / LOCAL_KEY_FILE
    try:
        key = path.read_text().strip()
    except FileNotFoundError:
        key = ""
    if key:
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # Written to a private temporary file, then linked into place: the link fails if another
    # process got there first, and then both use the first key; nobody reads a half-written one.
    tmp = path.with_name(f".{LOCAL_KEY_FILE}.{secrets.token_hex(8)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    try:
        os.link(tmp, path)
    except FileExistsError:
        key = path.read_text().strip()
    finally:
        tmp.unlink()
    return key
