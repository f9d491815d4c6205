"""Building the selector service from the environment, once per process (the Lambda's init).

The Lambda builds the service while its module loads (:func:`start`), so the secret reads and
the MongoDB client's set-up happen in the init phase -- which has its own time budget and full
CPU -- and not inside the first request's 5 s timeout. Should that fail (SSM unreachable for a
moment), each request tries again (:func:`service`) and is answered ``503`` until it works.

Secrets come by name, never by value, in the function's configuration:

| variable | meaning |
| --- | --- |
| ``MONGODB_URI`` | the URI itself (local runs) |
| ``MONGODB_URI_SSM_PARAMETER`` | an SSM SecureString holding the URI (the template's choice) |
| ``MONGODB_URI_SECRET`` | a Secrets Manager secret holding the URI |
| ``DYNAB_MEMBER_HASH_KEY_SECRET`` | Secrets Manager secret with the member-hash key (template) |
| ``DYNAB_MEMBER_HASH_KEY_SSM_PARAMETER`` | an SSM SecureString holding it |
| ``DYNAB_MEMBER_HASH_KEY`` | the key itself (local runs) |
| ``DYNAB_AWS_TIMEOUT_SECONDS`` | connect / read timeout of those reads (default 2) |

Without a member-hash key the selector does not start: a default key would be public, and a
logged hash could be matched to its member id by hashing candidate ids.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

from services.clock import SystemClock
from services.exceptions import DynabError, ValidationError
from services.mongo.repository import MongoStore, connect
from services.secrets import DEFAULT_TIMEOUT_SECONDS, read_secret
from services.serving.config_cache import ConfigurationCache
from services.serving.observability import SelectionLog
from services.serving.service import SelectorService
from services.serving.settings import ServingSettings

#: Shortest member-hash key accepted (the template asks for 32 characters).
MIN_KEY_LENGTH = 16

_service: SelectorService | None = None
_lock = threading.Lock()


class SelectorNotConfiguredError(DynabError):
    """A setting the selector cannot run without is missing."""


def aws_timeout(env: Mapping[str, str]) -> float:
    raw = env.get("DYNAB_AWS_TIMEOUT_SECONDS") or ""
    try:
        value = float(raw) if raw else DEFAULT_TIMEOUT_SECONDS
    except ValueError:
        raise ValidationError(
            "DYNAB_AWS_TIMEOUT_SECONDS", f"must be a number, got {raw!r}"
        ) from None
    if not 0 < value <= 30:
        raise ValidationError("DYNAB_AWS_TIMEOUT_SECONDS", f"must be in (0, 30], got {raw!r}")
    return value


def _from_env_or_secret(env: Mapping[str, str], name: str) -> str | None:
    """``name`` itself, else the SSM parameter ``name_SSM_PARAMETER``, else ``name_SECRET``."""
    value = env.get(name)
    if value:
        return value
    timeout = aws_timeout(env)
    endpoint = env.get("AWS_ENDPOINT_URL") or None
    if ssm := env.get(f"{name}_SSM_PARAMETER"):
        return read_secret(ssm_parameter=ssm, timeout_seconds=timeout, endpoint_url=endpoint)
    if secret := env.get(f"{name}_SECRET"):
        return read_secret(secret_id=secret, timeout_seconds=timeout, endpoint_url=endpoint)
    return None


def mongodb_uri(env: Mapping[str, str]) -> str:
    """The URI from ``MONGODB_URI``, else from its SSM parameter or secret."""
    uri = _from_env_or_secret(env, "MONGODB_URI")
    if not uri:
        raise SelectorNotConfiguredError(
            "none of MONGODB_URI, MONGODB_URI_SSM_PARAMETER and MONGODB_URI_SECRET is set"
        )
    return uri


def member_hash_key(env: Mapping[str, str]) -> str:
    """The member-hash key from its secret, SSM parameter or variable; there is no default."""
    key = _from_env_or_secret(env, "DYNAB_MEMBER_HASH_KEY")
    if not key:
        raise SelectorNotConfiguredError(
            "no member-hash key: set DYNAB_MEMBER_HASH_KEY_SECRET (Secrets Manager), "
            "DYNAB_MEMBER_HASH_KEY_SSM_PARAMETER or DYNAB_MEMBER_HASH_KEY"
        )
    if len(key.strip()) < MIN_KEY_LENGTH:
        raise SelectorNotConfiguredError(
            f"the member-hash key is shorter than {MIN_KEY_LENGTH} characters"
        )
    return key.strip()


def build_service(env: Mapping[str, str], log: SelectionLog) -> SelectorService:
    """A service on the MongoDB the environment names, with its settings."""
    settings = ServingSettings.from_env(env, member_hash_key=member_hash_key(env))
    clock = SystemClock()
    db = connect(
        mongodb_uri(env),
        db_name=env.get("MONGODB_DB") or None,
        timeout_ms=settings.mongo_timeout_ms,
        # Bounds a whole operation, retries included, so that no request outlives the
        # Lambda's own timeout waiting on MongoDB.
        operation_timeout_ms=2 * settings.mongo_timeout_ms,
        app_name="dynab-selector",
    )
    cache = ConfigurationCache(
        MongoStore(db, clock),
        clock,
        refresh_seconds=settings.refresh_seconds,
        retry_seconds=settings.retry_seconds,
    )
    return SelectorService(cache, clock, log, settings)


def service(log: SelectionLog) -> SelectorService:
    """The process's service, built on first use from ``os.environ``."""
    global _service
    if _service is None:
        with _lock:
            if _service is None:
                _service = build_service(os.environ, log)
    return _service


def start(log: SelectionLog) -> Exception | None:
    """Build the service now (at init); return the error instead of raising it."""
    try:
        service(log)
    except Exception as exc:
        return exc
    return None


def reset() -> None:
    """Forget the process's service (tests change the environment between cases)."""
    global _service
    with _lock:
        _service = None
