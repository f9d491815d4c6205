"""The pages' side of sign-in: the gate every page starts with, and operator-only controls."""

from __future__ import annotations

import streamlit as st

from console import sign_in
from console.auth import User
from console.session import current_user
from console.text import md


def signed_in_user() -> User:
    """The current user; a visitor gets the sign-in and nothing else of the page."""
    user = current_user()
    if user is None:
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
