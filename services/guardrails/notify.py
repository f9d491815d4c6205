"""Tell someone: a notifier per deployment, chosen by environment variables.

* ``DYNAB_NOTIFY=local`` (the default): the incident is already in the console's incident list;
  the notifier adds one JSON line to the stack's log (logger ``dynab.incidents``).
* ``DYNAB_NOTIFY=sns``: the incident is published to the Amazon SNS topic
  ``DYNAB_SNS_TOPIC_ARN`` (region from ``AWS_REGION`` / ``AWS_DEFAULT_REGION``; an
  ``AWS_ENDPOINT_URL_SNS`` or ``AWS_ENDPOINT_URL`` endpoint is honoured by boto3).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from services.exceptions import ValidationError
from services.guardrails.incidents import Incident

LOGGER = logging.getLogger("dynab.incidents")
NOTIFIERS = ("local", "sns")
#: SNS caps a subject at 100 characters.
SUBJECT_MAX = 100


class Notifier(Protocol):
    def notify(self, incident: Incident) -> None: ...


def incident_json(incident: Incident) -> str:
    """One line of JSON: the incident with its times in ISO 8601."""
    return json.dumps(incident.to_dict(), default=str, sort_keys=True)


def subject(incident: Incident) -> str:
    text = (
        f"dynab {incident.severity}: {incident.experiment_id} {incident.action} ({incident.rule})"
    )
    return text[:SUBJECT_MAX]


@dataclass
class LocalNotifier:
    """The embedded stack's notifier: a JSON line in the log."""

    logger: logging.Logger = LOGGER

    def notify(self, incident: Incident) -> None:
        self.logger.warning(incident_json(incident))


@dataclass
class SnsNotifier:
    """Publishes each incident to an SNS topic (message: the incident's JSON)."""

    topic_arn: str
    client: Any

    def notify(self, incident: Incident) -> None:
        self.client.publish(
            TopicArn=self.topic_arn,
            Subject=subject(incident),
            Message=incident_json(incident),
            MessageAttributes={
                "severity": {"DataType": "String", "StringValue": incident.severity},
                "experiment_id": {"DataType": "String", "StringValue": incident.experiment_id},
            },
        )


def notifier_from_env(env: Mapping[str, str] | None = None, *, client: Any = None) -> Notifier:
    """The notifier ``DYNAB_NOTIFY`` names (see module doc)."""
    env = os.environ if env is None else env
    kind = (env.get("DYNAB_NOTIFY") or "local").strip().lower()
    if kind not in NOTIFIERS:
        raise ValidationError("DYNAB_NOTIFY", f"{kind!r} is not one of: {', '.join(NOTIFIERS)}")
    if kind == "local":
        return LocalNotifier()
    topic = (env.get("DYNAB_SNS_TOPIC_ARN") or "").strip()
    if not topic.startswith("arn:"):
        raise ValidationError("DYNAB_SNS_TOPIC_ARN", "DYNAB_NOTIFY=sns needs a topic ARN")
    if client is None:
        import boto3

        client = boto3.client("sns")
    return SnsNotifier(topic_arn=topic, client=client)
