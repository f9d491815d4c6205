"""Sign-in throttle: back-off and lockout per user name and per client, shared through MongoDB."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from services.clock import FixedClock
from services.exceptions import ValidationError
from services.mongo.sign_in import SIGN_IN_LOG, THROTTLE, SignInGuard
from services.sign_in_throttle import ThrottlePolicy, describe_wait, wait_after
from tests.console.conftest import PASSWORDS, texts

T0 = datetime(2026, 11, 28, 9, 0, 0)
POLICY = ThrottlePolicy(
    max_failures=5, client_max_failures=8, backoff_seconds=1.0, lockout_seconds=900
)


def test_waits_double_then_lock_out() -> None:
    assert [wait_after(n, 5, POLICY) for n in range(7)] == [0, 1, 2, 4, 8, 900, 900]
    short = ThrottlePolicy(backoff_seconds=100, lockout_seconds=150)
    assert wait_after(2, 5, short) == 150  # the back-off never exceeds a lockout
    assert describe_wait(899.2) == "15 min" and describe_wait(61) == "1 min 1 s"


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"DYNAB_SIGNIN_MAX_FAILURES": "0"}, "max_failures"),
        ({"DYNAB_SIGNIN_MAX_FAILURES": "2.5"}, "DYNAB_SIGNIN_MAX_FAILURES"),
        ({"DYNAB_SIGNIN_LOCKOUT_SECONDS": "soon"}, "DYNAB_SIGNIN_LOCKOUT_SECONDS"),
        ({"DYNAB_SIGNIN_BACKOFF_SECONDS": "-1"}, "backoff_seconds"),
    ],
)
def test_malformed_settings_name_the_variable(env: dict, name: str) -> None:
    with pytest.raises(ValidationError, match=name):
        ThrottlePolicy.from_env(env)


def test_settings_come_from_the_environment() -> None:
    policy = ThrottlePolicy.from_env({"DYNAB_SIGNIN_MAX_FAILURES": "3"})
    assert policy.max_failures == 3 and policy.lockout_seconds == 900


def test_a_user_is_locked_out_across_consoles_and_released_after_the_lockout(mongo_db) -> None:
    clock = FixedClock(T0)
    # two console processes: two guards on the same database
    first, second = SignInGuard(mongo_db, POLICY, clock), SignInGuard(mongo_db, POLICY, clock)
    for n in range(5):
        guard = first if n % 2 else second
        assert guard.check("olivia", None) is None
        guard.record("olivia", None, ok=False)
        if n < 4:
            refusal = guard.check("olivia", None)
            assert refusal is not None and refusal.wait_seconds == 2.0**n  # back-off
            clock.advance(seconds=2.0**n)
    refusal = first.check("olivia", None)
    assert refusal is not None and refusal.wait_seconds == 900
    assert "Try again in 15 min (after 09:15:15 UTC)" in refusal.message
    assert first.check("adam", None) is None  # another user is not affected
    clock.advance(seconds=900)
    assert second.check("olivia", None) is None
    second.record("olivia", None, ok=True)
    assert mongo_db[THROTTLE].count_documents({}) == 0
    outcomes = [d["outcome"] for d in mongo_db[SIGN_IN_LOG].find().sort("_id", 1)]
    assert outcomes.count("wrong") == 5 and outcomes[-1] == "ok" and "refused" in outcomes
    assert all("password" not in d for d in mongo_db[SIGN_IN_LOG].find())


def test_one_client_trying_many_names_is_locked_out(mongo_db) -> None:
    clock = FixedClock(T0)
    guard = SignInGuard(mongo_db, POLICY, clock)
    for n in range(8):
        assert guard.check(f"user{n}", "203.0.113.7") is None
        guard.record(f"user{n}", "203.0.113.7", ok=False)
        if n < 7:  # each name fails once only; wait out the client's back-off
            clock.advance(seconds=wait_after(n + 1, 8, POLICY))
    refusal = guard.check("somebody-new", "203.0.113.7")
    assert refusal is not None and refusal.scope == "client" and refusal.wait_seconds == 900
    assert guard.check("somebody-new", "198.51.100.1") is None


def test_failures_older_than_a_lockout_are_forgotten(mongo_db) -> None:
    clock = FixedClock(T0)
    guard = SignInGuard(mongo_db, POLICY, clock)
    for _ in range(4):
        guard.record("olivia", None, ok=False)
    clock.advance(seconds=901)
    guard.record("olivia", None, ok=False)
    refusal = guard.check("olivia", None)
    assert refusal is not None and refusal.wait_seconds == 1.0  # counted from one again


def test_counters_of_names_tried_long_ago_are_dropped(mongo_db) -> None:
    clock = FixedClock(T0)
    guard = SignInGuard(mongo_db, POLICY, clock)
    for n in range(3):
        guard.record(f"guess{n}", "203.0.113.7", ok=False)
    clock.advance(seconds=901)
    guard.record("olivia", None, ok=False)
    assert [d["_id"] for d in mongo_db[THROTTLE].find()] == ["user:olivia"]


def _try(at, name: str, password: str):
    at.text_input(key="sign_in_name").input(name)
    at.text_input(key="sign_in_password").input(password)
    at.button[0].click().run()
    return at


def test_twenty_wrong_passwords_lock_the_console_sign_in_until_the_lockout_ends(
    make_app, demo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DYNAB_SIGNIN_BACKOFF_SECONDS", "0")
    monkeypatch.setenv("DYNAB_SIGNIN_LOCKOUT_SECONDS", "600")
    at = make_app(user=None)
    # GIVEN a real form whose fields password managers recognise
    assert at.text_input(key="sign_in_name").proto.autocomplete == "username"
    assert at.text_input(key="sign_in_password").proto.autocomplete == "current-password"
    errors = []
    for n in range(20):
        errors += texts(_try(at, "olivia", f"guess-{n}"), "error")
    assert errors[:5] == ["Unknown user name or wrong password."] * 5
    assert all(e.startswith("Too many failed sign-ins") for e in errors[5:])
    # WHEN the right password comes during the lockout THEN it is refused, saying when to retry
    [message] = texts(_try(at, "olivia", PASSWORDS["olivia"]), "error")
    assert "Too many failed sign-ins for this user name. Try again in 10 min" in message
    assert "auth_user" not in at.session_state
    # WHEN the lockout has passed (a 1 s lockout, waited for on the real clock)
    monkeypatch.setenv("DYNAB_SIGNIN_LOCKOUT_SECONDS", "1")
    time.sleep(1.1)
    _try(at, "olivia", PASSWORDS["olivia"])
    assert at.session_state["auth_user"].name == "olivia"
    log = list(demo.db[SIGN_IN_LOG].find())
    assert sum(d["outcome"] == "wrong" for d in log) == 5
    assert sum(d["outcome"] == "refused" for d in log) == 16
