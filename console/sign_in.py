"""The sign-in screen: embedded accounts from the secrets, or an OIDC provider (``st.login``).

Not a page of the navigation: every page draws it instead of itself until the visitor has signed
in, so that the page asked for (a deep link) opens right after. Attempts are throttled per user
name and per client address with counters in MongoDB (services/sign_in_throttle.py).
"""

from __future__ import annotations

import streamlit as st
from pymongo.errors import PyMongoError

from console.auth import AuthConfigError, accounts_from_secrets, oidc_configured, verify
from console.data import get_store
from console.session import auth_secrets, sign_in
from console.text import md
from services.exceptions import ValidationError
from services.mongo.sign_in import SignInGuard
from services.sign_in_throttle import ThrottlePolicy


def render() -> None:
    st.title("dynab console")
    st.caption("Dynamic A/B testing of recommendation models")

    auth = auth_secrets()
    try:
        accounts = accounts_from_secrets(auth)
    except AuthConfigError as exc:
        st.error(f"The console's sign-in secrets are invalid: {md(exc)}")
        return

    if oidc_configured(auth):
        provider = auth.get("provider")
        if st.button(
            "Sign in with your organisation's account", key="sign_in_oidc", type="primary"
        ):
            if provider:
                st.login(provider)
            else:
                st.login()

    if not accounts and not oidc_configured(auth):
        st.error(
            "No users are configured. Add `[auth.users.<name>]` tables (password_hash, role) to "
            "the console's secrets, or start the console with `dynab run`, which creates demo "
            "users."
        )
        return

    if accounts:
        # A real <form>: the browser and password managers see a user name and a password field.
        with st.form("sign_in_form"):
            name = st.text_input("User name", key="sign_in_name", autocomplete="username")
            password = st.text_input(
                "Password",
                type="password",
                key="sign_in_password",
                autocomplete="current-password",
            )
            submitted = st.form_submit_button("Sign in", type="primary")
        if submitted:
            _attempt(accounts, name, password)


def _guard() -> SignInGuard | None:
    try:
        policy = ThrottlePolicy.from_env()
    except ValidationError as exc:
        st.error(f"The sign-in throttle settings are invalid: {md(exc)}")
        return None
    return SignInGuard(get_store().db, policy)


def _attempt(accounts: dict, name: str, password: str) -> None:
    """Check one attempt against the shared throttle, then the password."""
    guard = _guard()
    if guard is None:
        return
    address = st.context.ip_address
    client = address if isinstance(address, str) and address else None
    try:
        refusal = guard.check(name, client)
        if refusal is not None:
            st.error(refusal.message)
            return
        user = verify(accounts, name, password)
        guard.record(name, client, ok=user is not None)
    except PyMongoError:
        # Fail closed: without the shared counters a guesser would be unthrottled.
        st.error("Sign-in is unavailable: the console cannot reach MongoDB. Try again shortly.")
        return
    if user is None:
        st.error("Unknown user name or wrong password.")
    else:
        sign_in(user)
        st.rerun()
