"""User text is shown as text, never rendered as Markdown, on every page that shows it."""

from __future__ import annotations

import re

import pytest

from console.text import md
from services.experiments import Status
from services.mongo.repository import MongoStore
from tests.console.conftest import NOW
from tests.foundation.factories import area, arms, experiment

EVIL = "![x](http://127.0.0.1:9/x.png) **bold** <img src=x>"
# What must never reach an element that Streamlit renders as Markdown: the image, the bold
# markers and the tag, unescaped (not preceded by a backslash).
RAW = re.compile(r"(?<!\\)!(?<!\\)\[x|(?<!\\)\*(?<!\\)\*bold|(?<!\\)<img")


@pytest.fixture
def evil(demo: MongoStore) -> MongoStore:
    """An area, an experiment and its models whose every free-text field is hostile."""
    demo.save_area(
        area("EVIL", default_model="EVIL-BASE").__class__(
            area_code="EVIL", default_model="EVIL-BASE", name=EVIL
        )
    )
    exp_arms = tuple(
        a.__class__(model_code=a.model_code, label=EVIL, weight=a.weight, control=a.control)
        for a in arms("EVIL-A_1_", "EVIL-B")
    )
    demo.create_experiment(
        experiment(
            experiment_id="EXP-66", name=EVIL, description=EVIL, area_code="EVIL", arms=exp_arms
        ),
        by=EVIL,
    )
    demo.apply_action("EXP-66", "start", expected_version=1, by=EVIL)
    assert demo.get_experiment("EXP-66").status is Status.RUNNING
    return demo


def markdown_bodies(at) -> list[str]:
    """The source of every element AppTest exposes that Streamlit renders as Markdown."""
    bodies = []
    for kind in (
        "title",
        "header",
        "subheader",
        "caption",
        "markdown",
        "info",
        "warning",
        "error",
        "success",
        "toast",
    ):
        bodies += [str(e.value) for e in getattr(at, kind)]
    bodies += [str(m.label) for m in at.metric]
    bodies += [str(e.label) for e in at.expander]
    for kind in (
        "selectbox",
        "multiselect",
        "text_input",
        "button",
        "checkbox",
        "radio",
        "number_input",
        "date_input",
    ):
        bodies += [str(w.label) for w in getattr(at, kind)]
    return bodies


def assert_plain(at) -> list[str]:
    bodies = markdown_bodies(at)
    assert bodies, "the page rendered nothing"
    for body in bodies:
        assert not RAW.search(body), f"user text rendered as Markdown: {body!r}"
    return bodies


def test_md_escapes_markdown_html_directives_and_latex() -> None:
    assert RAW.search(EVIL) and not RAW.search(md(EVIL))
    assert md(EVIL) == r"\!\[x\]\(http\://127.0.0.1\:9/x.png\) \*\*bold\*\* \<img src=x\>"
    assert md(":red[x] $y$ `z`\n# h") == r"\:red\[x\] \$y\$ \`z\` \# h"
    assert md("- item") == r"\- item" and md("1. one") == r"1\. one"


def test_the_experiments_page_shows_names_as_text(make_app, evil) -> None:
    at = make_app(page="experiments")
    at.selectbox(key="experiments_selected").select("EXP-66").run()
    bodies = assert_plain(at)
    assert md(f"EXP-66: {EVIL}") in bodies  # the name is shown, escaped


@pytest.mark.parametrize("page", ["overview", "live_ctr", "winners", "posteriors", "operations"])
def test_every_page_that_lists_experiments_shows_names_as_text(make_app, evil, page) -> None:
    at = make_app(page=page)
    at.session_state["console_experiment"] = "EXP-66"
    at.run()
    assert_plain(at)


def test_a_user_name_is_shown_as_text(make_app, evil, auth_secrets) -> None:
    from streamlit.testing.v1 import AppTest

    from tests.console.conftest import APP

    at = AppTest.from_file(APP, default_timeout=30)
    at.secrets["auth"] = auth_secrets
    at.session_state["dynab_now"] = NOW
    at.session_state["auth_user"] = {"name": EVIL, "role": "analyst"}
    at.run()
    assert md(EVIL) in at.sidebar.caption[0].value
    assert_plain(at)
