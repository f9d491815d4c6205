"""Who may use the console and what they may do. No Streamlit here: the pages call it.

Two roles: an *analyst* reads every page; an *operator* also creates, edits, starts, pauses,
resumes and stops experiments. Two ways to sign in:

* embedded default: users in Streamlit secrets, with bcrypt password hashes::

      [auth.users.alice]
      password_hash = "$2b$12$..."   # dynab hash-password, or bcrypt.hashpw
      role = "operator"

* production: an OpenID Connect provider through ``st.login`` (Streamlit's own ``[auth]``
  secrets: ``redirect_uri``, ``cookie_secret``, ``client_id``, ``client_secret``,
  ``server_metadata_url``). The signed-in person's e-mail decides the role:
  ``auth.operators = ["ops@example.com"]``; everyone else the provider lets in is an analyst.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import bcrypt

# Checked against when the user name is unknown, so that a wrong name costs as long as a wrong
# password and the sign-in does not reveal which names exist.
_DUMMY_HASH = bcrypt.hashpw(b"dynab-no-such-user", bcrypt.gensalt(rounds=4))


class Role(StrEnum):
    ANALYST = "analyst"
    OPERATOR = "operator"


@dataclass(frozen=True)
class User:
    name: str
    role: Role

    @property
    def can_act(self) -> bool:
        """Operators change experiments; analysts only read."""
        return self.role is Role.OPERATOR


@dataclass(frozen=True)
class Account:
    name: str
    password_hash: bytes
    role: Role


class AuthConfigError(ValueError):
    """The ``[auth]`` secrets are malformed; the message names the entry."""


def hash_password(password: str, rounds: int = 12) -> str:
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds)).decode()


def accounts_from_secrets(auth: Mapping[str, Any] | None) -> dict[str, Account]:
    """The embedded accounts from the ``[auth.users.<name>]`` tables of the secrets."""
    users = (auth or {}).get("users") or {}
    accounts: dict[str, Account] = {}
    for name, entry in users.items():
        if not isinstance(entry, Mapping):
            raise AuthConfigError(f"auth.users.{name}: must be a table")
        password_hash = entry.get("password_hash")
        if not isinstance(password_hash, str) or not password_hash.startswith("$2"):
            raise AuthConfigError(f"auth.users.{name}.password_hash: must be a bcrypt hash")
        try:
            role = Role(entry.get("role", Role.ANALYST))
        except ValueError:
            allowed = ", ".join(r.value for r in Role)
            raise AuthConfigError(f"auth.users.{name}.role: must be one of {allowed}") from None
        accounts[str(name)] = Account(str(name), password_hash.encode(), role)
    return accounts


def verify(accounts: Mapping[str, Account], name: str, password: str) -> User | None:
    """The user if ``password`` matches ``name``'s hash, else None."""
    account = accounts.get(name.strip())
    hashed = account.password_hash if account else _DUMMY_HASH
    ok = bcrypt.checkpw(password.encode(), hashed)
    if account is None or not ok:
        return None
    return User(account.name, account.role)


def oidc_configured(auth: Mapping[str, Any] | None) -> bool:
    """True when the secrets configure Streamlit's OIDC sign-in (``st.login``)."""
    return bool(auth) and "redirect_uri" in auth  # type: ignore[operator]


def oidc_user(auth: Mapping[str, Any], claims: Mapping[str, Any]) -> User:
    """The console user for an OIDC identity: named by e-mail, operator if listed."""
    name = str(claims.get("email") or claims.get("name") or claims.get("sub") or "unknown")
    operators = {str(e).lower() for e in auth.get("operators", [])}
    return User(name, Role.OPERATOR if name.lower() in operators else Role.ANALYST)
