"""Errors raised by the services package.

Every error carries a message a person can act on. Validation errors name the field they are
about, so that a form, an HTTP 400 or a command-line error can point at it.
"""

from __future__ import annotations


class DynabError(Exception):
    """Base class of every error dynab raises on purpose."""


class ValidationError(DynabError, ValueError):
    """A value is not acceptable; ``field`` names it (dotted path, e.g. ``arms[1].weight``)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class ValidationErrors(ValidationError):
    """Several values are not acceptable. It is the first one's :class:`ValidationError` (so a
    caller that reports one error sees the first), and ``errors`` holds every one, in field order,
    for a form that reports them all at once."""

    def __init__(self, errors: list[ValidationError] | tuple[ValidationError, ...]) -> None:
        if not errors:
            raise ValueError("ValidationErrors needs at least one error")
        self.errors = tuple(errors)
        super().__init__(errors[0].field, errors[0].message)


class NotFoundError(DynabError, LookupError):
    """The experiment, area or document asked for does not exist."""


class TransitionError(DynabError):
    """A lifecycle action is not allowed from the experiment's current state."""

    def __init__(self, experiment_id: str, action: str, status: str, message: str = "") -> None:
        self.experiment_id = experiment_id
        self.action = action
        self.status = status
        super().__init__(message or f"cannot {action} experiment {experiment_id}: it is {status}")


class ConflictError(DynabError):
    """A write was refused because it would break an invariant or lose another writer's update."""


class StaleVersionError(ConflictError):
    """The document changed since it was read: the update carried an old version."""

    def __init__(self, experiment_id: str, expected: int, actual: int | None) -> None:
        self.experiment_id = experiment_id
        self.expected = expected
        self.actual = actual
        now = "it no longer exists" if actual is None else f"it is now at version {actual}"
        super().__init__(
            f"experiment {experiment_id} was changed by someone else "
            f"(you edited version {expected}, {now}); reload and try again"
        )


class AreaBusyError(ConflictError):
    """An area already has a running or paused experiment."""

    def __init__(self, area_code: str, experiment_id: str | None) -> None:
        self.area_code = area_code
        self.experiment_id = experiment_id
        other = f" ({experiment_id})" if experiment_id else ""
        super().__init__(
            f"area {area_code} already has a running or paused experiment{other}; "
            "stop it before starting another"
        )


class StoreUnavailableError(DynabError):
    """The store (MongoDB) cannot be reached or did not answer in time."""
