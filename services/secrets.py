"""Secrets read at start-up: the MongoDB URI and the member-hash key, from SSM or Secrets Manager.

Both the Lambda selector (at cold start) and the parameter job on EMR (at submit) read their
secrets here, through Powertools Parameters, with short botocore timeouts: a cold start has a
few seconds, and botocore's defaults (60 s connect and read, several retries) would spend them
all on one unreachable endpoint. A secret never travels in a command line or an environment
variable the platform shows (EMR's DescribeStep, YARN's UI, Lambda's configuration): only its
name does.
"""

from __future__ import annotations

from typing import Any

from services.exceptions import DynabError

#: Connect and read timeout of each AWS call made here, and how many attempts in all.
DEFAULT_TIMEOUT_SECONDS = 2.0
DEFAULT_MAX_ATTEMPTS = 2


class SecretUnavailableError(DynabError):
    """A secret could not be read (missing, access denied, or the service unreachable)."""


def aws_client_config(
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS, max_attempts: int = DEFAULT_MAX_ATTEMPTS
) -> Any:
    """A botocore ``Config`` with short timeouts and few retries, for calls on a deadline."""
    from botocore.config import Config

    return Config(
        connect_timeout=timeout_seconds,
        read_timeout=timeout_seconds,
        retries={"max_attempts": max_attempts, "mode": "standard"},
    )


def read_secret(
    *,
    ssm_parameter: str | None = None,
    secret_id: str | None = None,
    timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    endpoint_url: str | None = None,
    region_name: str | None = None,
) -> str:
    """The value of an SSM SecureString parameter or of a Secrets Manager secret (exactly one).

    Raises:
        SecretUnavailableError: the secret is missing, empty, or could not be read; the message
            names the secret, never its value.
    """
    if (ssm_parameter is None) == (secret_id is None):
        raise ValueError("name exactly one of ssm_parameter and secret_id")
    import boto3
    from aws_lambda_powertools.utilities.parameters import SecretsProvider, SSMProvider

    config = aws_client_config(timeout_seconds)
    where = f"SSM parameter {ssm_parameter}" if ssm_parameter else f"secret {secret_id}"
    try:
        if ssm_parameter is not None:
            client = boto3.client(
                "ssm", config=config, endpoint_url=endpoint_url, region_name=region_name
            )
            value = SSMProvider(boto3_client=client).get(ssm_parameter, decrypt=True, max_age=0)
        else:
            client = boto3.client(
                "secretsmanager", config=config, endpoint_url=endpoint_url, region_name=region_name
            )
            value = SecretsProvider(boto3_client=client).get(secret_id, max_age=0)
    except Exception as exc:
        # Powertools wraps every failure in GetParameterError; the cause says why (denied, not
        # found, timeout) without the value, so it can be reported.
        cause = exc.__cause__ or exc
        raise SecretUnavailableError(
            f"cannot read {where}: {type(cause).__name__}: {cause}"
        ) from exc
    if isinstance(value, bytes):
        value = value.decode()
    if not isinstance(value, str) or not value:
        raise SecretUnavailableError(f"{where} is empty")
    return value
