"""Errors of the operations sources."""

from __future__ import annotations

from services.exceptions import DynabError


class OpsSourceError(DynabError):
    """An operations source could not answer (AWS error, store outage, malformed answer)."""


class InsightsQueryError(OpsSourceError):
    """A Logs Insights query failed, was cancelled, or did not finish in time."""

    def __init__(self, query_id: str, status: str, message: str = "") -> None:
        self.query_id = query_id
        self.status = status
        super().__init__(message or f"Logs Insights query {query_id} ended with status {status}")
