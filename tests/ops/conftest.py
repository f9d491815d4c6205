"""Fixtures of the operations tests: dummy AWS credentials and a moto server over real HTTP."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import boto3
import pytest
from moto.server import ThreadedMotoServer

REGION = "eu-west-1"


@pytest.fixture(autouse=True)
def dummy_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials and region: no test can ever reach real AWS with real keys."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto as a real HTTP endpoint on a free port, so boto3 goes through its HTTP stack."""
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def aws_client(moto_endpoint: str, dummy_aws: None):
    """A factory of boto3 clients pointed at the moto endpoint."""

    def make(service: str):
        return boto3.client(service, region_name=REGION, endpoint_url=moto_endpoint)

    return make


def offline_client(service: str):
    """A client for Stubber tests: never sends anything (Stubber intercepts every call)."""
    return boto3.client(service, region_name=REGION, endpoint_url="http://127.0.0.1:9")
