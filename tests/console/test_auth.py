"""Sign-in: embedded accounts from the secrets, roles, and a visitor who sees only the sign-in."""

from __future__ import annotations

import pytest

from console.auth import (
    AuthConfigError,
    Role,
    accounts_from_secrets,
    hash_password,
    oidc_configured,
    oidc_user,
    verify,
)
from tests.console.conftest import PASSWORDS, texts


@pytest.fixture(scope="module")
def accounts() -> dict:
    return accounts_from_secrets(
        {"users": {"ann": {"password_hash": hash_password("s3cret", 4), "role": "operator"}}}
    )


def test_verify_accepts_the_right_password_only(accounts: dict) -> None:
    user = verify(accounts, "ann", "s3cret")
    assert user is not None and user.role is Role.OPERATOR and user.can_act
    assert verify(accounts, "ann", "wrong") is None
    assert verify(accounts, "nobody", "s3cret") is None


@pytest.mark.parametrize(
    ("entry", "field"),
    [
        ({"password_hash": "plain-text", "role": "analyst"}, "password_hash"),
        ({"password_hash": "$2b$04$" + "x" * 53, "role": "admin"}, "role"),
    ],
)
def test_malformed_accounts_name_the_entry(entry: dict, field: str) -> None:
    with pytest.raises(AuthConfigError, match=rf"auth\.users\.bob\.{field}"):
        accounts_from_secrets({"users": {"bob": entry}})


def test_oidc_users_are_analysts_unless_listed_as_operators() -> None:
    auth = {"redirect_uri": "https://x/oauth2callback", "operators": ["Ops@Example.com"]}
    assert oidc_configured(auth) and not oidc_configured({"users": {}})
    assert oidc_user(auth, {"email": "ops@example.com"}).role is Role.OPERATOR
    assert oidc_user(auth, {"email": "someone@example.com"}).role is Role.ANALYST


def test_a_visitor_sees_only_the_sign_in(make_app, demo) -> None:
    at = make_app(user=None)
    assert [t.value for t in at.title] == ["dynab console"]
    assert at.text_input(key="sign_in_name") is not None
    assert not at.dataframe  # no experiment data leaks to the sign-in page


def test_sign_in_with_a_wrong_password_is_refused(make_app, demo) -> None:
    at = make_app(user=None)
    at.text_input(key="sign_in_name").input("olivia")
    at.text_input(key="sign_in_password").input("nope")
    at.button[0].click().run()
    assert texts(at, "error") == ["Unknown user name or wrong password."]
    assert "auth_user" not in at.session_state


def test_sign_in_opens_the_page(make_app, demo) -> None:
    at = make_app(user=None, page="winners")
    at.text_input(key="sign_in_name").input("adam")
    at.text_input(key="sign_in_password").input(PASSWORDS["adam"])
    at.button[0].click().run()
    assert [t.value for t in at.title] == ["Winners"]
    assert at.session_state["auth_user"].name == "adam"


def test_sign_out_returns_to_the_sign_in(make_app, demo) -> None:
    at = make_app(user="adam")
    assert at.sidebar.caption[0].value == "Signed in as **adam** (analyst)"
    at.button(key="app_sign_out").click().run()
    assert [t.value for t in at.title] == ["dynab console"]
    assert "auth_user" not in at.session_state


def test_no_users_configured_says_how_to_get_some(make_app, demo) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.console.conftest import APP

    at = AppTest.from_file(APP, default_timeout=30)
    at.run()
    assert "No users are configured" in texts(at, "error")[0]
