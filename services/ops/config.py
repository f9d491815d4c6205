"""Which operations source to use, from the environment; read once at the edge.

| variable | default | meaning |
| --- | --- | --- |
| ``DYNAB_OPS_SOURCE`` | ``embedded`` | ``embedded`` (the local gateway's figures) or ``aws`` |
| ``DYNAB_API_NAME`` | required for aws | API Gateway ``ApiName`` of the selector API |
| ``DYNAB_API_STAGE`` | ``prod`` | API Gateway stage |
| ``DYNAB_SELECTOR_LOG_GROUP`` | required for aws | the selector Lambda's log group |
| ``DYNAB_OPS_INSIGHTS_TIMEOUT`` | ``30`` | seconds before a Logs Insights query is given up |
| ``DYNAB_OPS_XRAY`` | ``true`` | ``false`` leaves the X-Ray service map out |
| ``AWS_REGION`` | boto3's default | region of the API, the logs and the traces |
| ``AWS_ENDPOINT_URL`` | unset | another endpoint (LocalStack, moto) for every AWS client |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from pymongo.database import Database

from services.exceptions import ValidationError
from services.ops.source import OpsSource

SOURCES = ("embedded", "aws")


@dataclass(frozen=True)
class OpsConfig:
    source: str = "embedded"
    api_name: str | None = None
    stage: str = "prod"
    log_group: str | None = None
    region: str | None = None
    endpoint_url: str | None = None
    insights_timeout_seconds: float = 30.0
    xray: bool = True

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValidationError(
                "DYNAB_OPS_SOURCE", f"must be one of {', '.join(SOURCES)}, got {self.source!r}"
            )
        if self.source == "aws":
            if not self.api_name:
                raise ValidationError("DYNAB_API_NAME", "is required when DYNAB_OPS_SOURCE=aws")
            if not self.log_group:
                raise ValidationError(
                    "DYNAB_SELECTOR_LOG_GROUP", "is required when DYNAB_OPS_SOURCE=aws"
                )
        if not self.insights_timeout_seconds > 0:
            raise ValidationError("DYNAB_OPS_INSIGHTS_TIMEOUT", "must be a positive number")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OpsConfig:
        env = os.environ if env is None else env
        raw_timeout = env.get("DYNAB_OPS_INSIGHTS_TIMEOUT") or "30"
        try:
            timeout = float(raw_timeout)
        except ValueError:
            raise ValidationError(
                "DYNAB_OPS_INSIGHTS_TIMEOUT", f"must be a number, got {raw_timeout!r}"
            ) from None
        return cls(
            source=(env.get("DYNAB_OPS_SOURCE") or "embedded").strip().lower(),
            api_name=env.get("DYNAB_API_NAME") or None,
            stage=env.get("DYNAB_API_STAGE") or "prod",
            log_group=env.get("DYNAB_SELECTOR_LOG_GROUP") or None,
            region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
            endpoint_url=env.get("AWS_ENDPOINT_URL") or None,
            insights_timeout_seconds=timeout,
            xray=(env.get("DYNAB_OPS_XRAY") or "true").strip().lower() not in {"0", "false", "no"},
        )


def build_source(config: OpsConfig, db: Database | None = None) -> OpsSource:
    """The configured source; the only place where dynab creates boto3 clients for operations.

    Args:
        config: From :meth:`OpsConfig.from_env`.
        db: The console's MongoDB database (needed by the embedded source).
    """
    if config.source == "aws":
        import boto3

        from services.ops.aws import AwsOpsSource

        session = boto3.session.Session(region_name=config.region)

        def client(service: str):
            return session.client(service, endpoint_url=config.endpoint_url)

        return AwsOpsSource(
            cloudwatch=client("cloudwatch"),
            logs=client("logs"),
            xray=client("xray") if config.xray else None,
            api_name=config.api_name or "",
            stage=config.stage,
            log_group=config.log_group or "",
            insights_timeout_seconds=config.insights_timeout_seconds,
        )
    if db is None:
        raise ValidationError("db", "the embedded operations source needs the MongoDB database")
    from services.ops.embedded import EmbeddedOpsSource

    return EmbeddedOpsSource(db)
