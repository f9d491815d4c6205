"""The sign-in screen: embedded accounts from the secrets, or an OIDC provider (``st.login``).

Not a page of the navigation: every page draws it instead of itself until the visitor has signed
in, so that the page asked for (a deep link) opens right after.
"""

from __future__ import annotations

import streamlit as st

from console.access import auth_secrets, sign_in
from console.auth import AuthConfigError, accounts_from_secrets, oidc_configured, verify


def render() -> None:
    st.title("dynab console")
    st.caption("Dynamic A/B testing of recommendation models")

    auth = auth_secrets()
    try:
        accounts = accounts_from_secrets(auth)
    except AuthConfigError as exc:
        st.error(f"The console's sign-in secrets are invalid: {exc}")
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
        with st.form("sign_in_form"):
            name = st.text_input("User name", key="sign_in_name")
            password = st.text_input("Password", type="password", key="sign_in_password")
            submitted = st.form_submit_button("Sign in", type="primary")
        if submitted:
            user = verify(accounts, name, password)
            if user is None:
                st.error("Unknown user name or wrong password.")
            else:
                sign_in(user)
                st.rerun()
