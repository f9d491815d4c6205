"""The selector's configuration, read once from the environment at the edge.

| variable | default | meaning |
| --- | --- | --- |
| ``DYNAB_CONFIG_REFRESH_SECONDS`` | ``30`` | how long configuration and parameters are reused |
| ``DYNAB_STORE_RETRY_SECONDS`` | 5 | after a store failure, serve the last-known copy so long |
| ``DYNAB_MONGO_TIMEOUT_MS`` | ``1000`` | MongoDB connect / server-selection timeout |
| ``DYNAB_AREA_DEFAULTS`` | ``{}`` | JSON ``{"AREA": "MODEL", "*": "MODEL"}``: the fallback models |
| ``DYNAB_CACHE_TTL_SECONDS`` | unset | ``Cache-Control: private, max-age=`` of answers |

The member-hash key is not read here: :mod:`services.serving.runtime` resolves it (from Secrets
Manager or SSM on AWS) and refuses to build a selector without one.
"""

from __future__ import annotations

import json
import math
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from services.exceptions import ValidationError
from services.experiments import (
    AREA_CODE_MAX,
    AREA_CODE_PATTERN,
    MODEL_CODE_MAX,
    MODEL_CODE_PATTERN,
    check_code,
)

#: Key of :attr:`ServingSettings.area_defaults` that applies to every area not named.
ANY_AREA = "*"


def parse_area_defaults(raw: str | Mapping[str, object] | None) -> Mapping[str, str]:
    """``{"AREA": "MODEL", "*": "MODEL"}`` from JSON text or a mapping, validated."""
    if raw is None or raw == "":
        return MappingProxyType({})
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise ValidationError("DYNAB_AREA_DEFAULTS", f"is not valid JSON: {exc}") from None
    if not isinstance(raw, Mapping):
        raise ValidationError("DYNAB_AREA_DEFAULTS", 'must be a JSON object {"AREA": "MODEL"}')
    out: dict[str, str] = {}
    for area, model in raw.items():
        if area != ANY_AREA:
            check_code("DYNAB_AREA_DEFAULTS", area, AREA_CODE_PATTERN, AREA_CODE_MAX)
        out[area] = check_code(
            f"DYNAB_AREA_DEFAULTS[{area}]", model, MODEL_CODE_PATTERN, MODEL_CODE_MAX
        )
    return MappingProxyType(out)


def _positive(name: str, value: object) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValidationError(name, f"must be a positive number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class ServingSettings:
    refresh_seconds: float = 30.0
    retry_seconds: float = 5.0
    mongo_timeout_ms: int = 1000
    area_defaults: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    #: Key of the HMAC that hides member ids in logs. Left out, a random key of this process
    #: (never a public constant, which would let anyone match hashes to candidate ids).
    member_hash_key: str = field(default_factory=lambda: secrets.token_hex(32), repr=False)
    #: ``Cache-Control: private, max-age=`` of answers: the API Gateway cache TTL; None: none.
    cache_ttl_seconds: int | None = None

    def __post_init__(self) -> None:
        _positive("refresh_seconds", self.refresh_seconds)
        _positive("retry_seconds", self.retry_seconds)
        _positive("mongo_timeout_ms", self.mongo_timeout_ms)
        object.__setattr__(self, "area_defaults", parse_area_defaults(self.area_defaults))
        if not isinstance(self.member_hash_key, str) or not self.member_hash_key:
            raise ValidationError("member_hash_key", "must be a non-empty string")
        ttl = self.cache_ttl_seconds
        if ttl is not None and (
            isinstance(ttl, bool) or not isinstance(ttl, int) or not 0 <= ttl <= 3600
        ):
            raise ValidationError("cache_ttl_seconds", f"must be 0..3600 seconds, got {ttl!r}")

    def default_model(self, area_code: str) -> str | None:
        """The configured model for ``area_code`` (or for any area), if there is one."""
        return self.area_defaults.get(area_code) or self.area_defaults.get(ANY_AREA)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], member_hash_key: str | None = None
    ) -> ServingSettings:
        def number(name: str, default: float) -> float:
            raw = env.get(name)
            if raw is None or raw == "":
                return default
            try:
                return float(raw)
            except ValueError:
                raise ValidationError(name, f"must be a number, got {raw!r}") from None

        return cls(
            refresh_seconds=_positive(
                "DYNAB_CONFIG_REFRESH_SECONDS", number("DYNAB_CONFIG_REFRESH_SECONDS", 30.0)
            ),
            retry_seconds=_positive(
                "DYNAB_STORE_RETRY_SECONDS", number("DYNAB_STORE_RETRY_SECONDS", 5.0)
            ),
            mongo_timeout_ms=int(
                _positive("DYNAB_MONGO_TIMEOUT_MS", number("DYNAB_MONGO_TIMEOUT_MS", 1000))
            ),
            area_defaults=parse_area_defaults(env.get("DYNAB_AREA_DEFAULTS")),
            member_hash_key=member_hash_key or secrets.token_hex(32),
            cache_ttl_seconds=_ttl(env.get("DYNAB_CACHE_TTL_SECONDS")),
        )


def _ttl(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValidationError(
            "DYNAB_CACHE_TTL_SECONDS", f"must be whole seconds, got {raw!r}"
        ) from None
