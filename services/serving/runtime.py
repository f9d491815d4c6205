"""Building the selector service from the environment (the Lambda's cold start).

The MongoDB URI comes from ``MONGODB_URI`` or, on AWS, from the SSM SecureString parameter named
by ``MONGODB_URI_SSM_PARAMETER`` (read once per cold start), so the URI and its password never sit
in the function's configuration. The service is built once per process and reused by every
invocation; that is what keeps the configuration cache warm between requests.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping

from services.clock import SystemClock
from services.exceptions import StoreUnavailableError
from services.mongo.repository import MongoStore, connect
from services.serving.config_cache import ConfigurationCache
from services.serving.observability import SelectionLog
from services.serving.service import SelectorService
from services.serving.settings import ServingSettings

_service: SelectorService | None = None
_lock = threading.Lock()


def mongodb_uri(env: Mapping[str, str]) -> str:
    """The URI from ``MONGODB_URI``, else from the SSM parameter ``MONGODB_URI_SSM_PARAMETER``."""
    uri = env.get("MONGODB_URI")
    if uri:
        return uri
    name = env.get("MONGODB_URI_SSM_PARAMETER")
    if not name:
        raise StoreUnavailableError("neither MONGODB_URI nor MONGODB_URI_SSM_PARAMETER is set")
    import boto3

    ssm = boto3.client("ssm")
    return str(ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"])


def build_service(env: Mapping[str, str], log: SelectionLog) -> SelectorService:
    """A service on the MongoDB the environment names, with its settings."""
    settings = ServingSettings.from_env(env)
    clock = SystemClock()
    db = connect(
        mongodb_uri(env),
        db_name=env.get("MONGODB_DB") or None,
        timeout_ms=settings.mongo_timeout_ms,
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


def reset() -> None:
    """Forget the process's service (tests change the environment between cases)."""
    global _service
    with _lock:
        _service = None
