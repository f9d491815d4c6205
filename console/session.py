"""Who is signed in to this browser session, kept across reloads by a session cookie.

Signing in opens a server-side session (services/mongo/console_sessions.py) and puts its random
token in the ``dynab_session`` cookie; a new browser session (a reload, a new tab) reads the
cookie through ``st.context.cookies`` and finds its user again. Every run re-checks the session,
so signing out in one tab (which deletes it) ends it in the others at their next interaction.
Streamlit cannot set cookies from Python: a few lines of JavaScript (``st.html``) do it.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Mapping
from typing import Any

import streamlit as st
from pymongo.errors import PyMongoError

from console.auth import Role, User, oidc_configured, oidc_user
from services.mongo.console_sessions import ConsoleSessions, session_hours

USER_KEY = "auth_user"
TOKEN_KEY = "auth_session"
COOKIE_KEY = "auth_cookie_pending"
COOKIE = "dynab_session"


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


def _sessions() -> ConsoleSessions:
    from console.data import get_store

    return ConsoleSessions(get_store().db, session_hours(os.environ.get("DYNAB_SESSION_HOURS")))


def _cookie() -> str | None:
    """The session cookie this browser session was opened with (read once, at connection)."""
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # no browser behind this session (AppTest)
        return None
    return value if isinstance(value, str) else None


def _forget(clear_cookie: bool) -> None:
    st.session_state.pop(USER_KEY, None)
    st.session_state.pop(TOKEN_KEY, None)
    if clear_cookie:
        st.session_state[COOKIE_KEY] = ""


def current_user() -> User | None:
    """The signed-in user of this session, or None."""
    held = st.session_state.get(USER_KEY)
    token = st.session_state.get(TOKEN_KEY)
    if held is not None and token:
        try:
            alive = _sessions().lookup(token) is not None
        except PyMongoError:
            alive = True  # MongoDB is away: the pages say so; the sign-in stands meanwhile
        if not alive:  # signed out elsewhere, or expired
            _forget(clear_cookie=True)
            held = None
    if isinstance(held, User):
        return held
    if isinstance(held, Mapping) and held.get("name"):
        return User(str(held["name"]), Role(held.get("role", Role.ANALYST)))
    user = _from_cookie()
    if user is not None:
        return user
    auth = auth_secrets()
    if oidc_configured(auth) and st.user.get("is_logged_in"):
        return oidc_user(auth, plain(st.user.to_dict()))
    return None


def _from_cookie() -> User | None:
    token = _cookie()
    if not token or st.session_state.get(COOKIE_KEY) == "":
        return None  # no cookie, or one this session has just cleared
    try:
        record = _sessions().lookup(token)
        role = Role(record.role) if record else None
    except (PyMongoError, ValueError):
        return None
    if record is None or role is None:
        st.session_state[COOKIE_KEY] = ""
        return None
    user = User(record.user, role)
    st.session_state[USER_KEY] = user
    st.session_state[TOKEN_KEY] = token
    return user


def sign_in(user: User) -> None:
    """Sign ``user`` in to this session and, through the cookie, to later ones."""
    st.session_state[USER_KEY] = user
    try:
        token = _sessions().open(user.name, user.role.value)
    except PyMongoError:
        return  # signed in for this session only
    st.session_state[TOKEN_KEY] = token
    st.session_state[COOKIE_KEY] = token


def sign_out() -> None:
    """Button callback: it runs before the page, so the page already sees the visitor."""
    token = st.session_state.get(TOKEN_KEY) or _cookie()
    with contextlib.suppress(PyMongoError):
        _sessions().close(token)
    _forget(clear_cookie=True)
    if oidc_configured(auth_secrets()) and st.user.get("is_logged_in"):
        st.logout()


def sync_cookie() -> None:
    """Write (or clear) the session cookie in the browser when the session asked for it."""
    if COOKIE_KEY not in st.session_state:
        return
    token = st.session_state.get(COOKIE_KEY)
    if token:
        max_age = int(session_hours(os.environ.get("DYNAB_SESSION_HOURS")) * 3600)
        value = f"{COOKIE}={token}; Max-Age={max_age}"
        st.session_state.pop(COOKIE_KEY)
    else:
        value = f"{COOKIE}=; Max-Age=0"
        # Kept (empty) so that this session does not read back the cookie it cleared.
    script = (
        "<script>document.cookie = "
        f"{json.dumps(value + '; Path=/; SameSite=Strict')}"
        " + (location.protocol === 'https:' ? '; Secure' : '');</script>"
    )
    st.html(script, unsafe_allow_javascript=True, width="content")
