"""Streamlit side of sign-in: the current user, signing out, gating operator actions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import streamlit as st

from console.auth import Role, User, oidc_configured, oidc_user
from console.text import md

USER_KEY = "auth_user"


def plain(value: Any) -> Any:
    """Secrets as plain dicts and lists (Streamlit wraps tables in read-only mappings)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def auth_secrets() -> dict[str, Any]:
    try:
        return plain(st.secrets.get("auth") or {})
    except FileNotFoundError:
        return {}


def current_user() -> User | None:
    """The signed-in user of this session, or None."""
    held = st.session_state.get(USER_KEY)
    if isinstance(held, User):
        return held
    if isinstance(held, Mapping) and held.get("name"):
        return User(str(held["name"]), Role(held.get("role", Role.ANALYST)))
    auth = auth_secrets()
    if oidc_configured(auth) and st.user.get("is_logged_in"):
        return oidc_user(auth, plain(st.user.to_dict()))
    return None


def sign_in(user: User) -> None:
    st.session_state[USER_KEY] = user


def sign_out() -> None:
    """Button callback: it runs before the page, so the page already sees the visitor."""
    st.session_state.pop(USER_KEY, None)
    if oidc_configured(auth_secrets()) and st.user.get("is_logged_in"):
        st.logout()


def signed_in_user() -> User:
    """The current user; a visitor gets the sign-in and nothing else of the page."""
    user = current_user()
    if user is None:
        from console import sign_in  # the sign-in imports this module

        sign_in.render()
        st.stop()
    return user


def operator_only(user: User) -> bool:
    """True for an operator; for an analyst, explains why the controls are missing."""
    if user.can_act:
        return True
    st.info(
        f"You are signed in as {md(user.name)} ({user.role.value}): analysts can read everything "
        "but only operators can change experiments."
    )
    return False
