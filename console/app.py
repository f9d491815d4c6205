"""The dynab console: entry point. Run with ``streamlit run console/app.py``.

A visitor who is not signed in sees only the sign-in (the menu is hidden and every page stops
after drawing it); everyone signed in sees every page, and the pages themselves hide the
controls an analyst may not use.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from console import data
from console.session import current_user, sign_out, sync_cookie
from console.text import md

PAGES_DIR = Path(__file__).resolve().parent / "views"

#: The console's pages, in menu order: (file in console/views, title, icon).
#: To add a page, write console/views/<name>.py as a flat script that starts with
#: ``user = signed_in_user()`` and add one line here.
PAGES: list[tuple[str, str, str]] = [
    ("overview.py", "Overview", ":material/dashboard:"),
    ("experiments.py", "Experiments", ":material/science:"),
    ("live_ctr.py", "Live CTR", ":material/show_chart:"),
    ("winners.py", "Winners", ":material/emoji_events:"),
    ("posteriors.py", "Posteriors", ":material/bar_chart:"),
    ("operations.py", "Operations", ":material/monitor_heart:"),
    ("simulator.py", "Simulator", ":material/casino:"),
]

st.set_page_config(page_title="dynab", layout="wide")

user = current_user()
pages = [
    st.Page(PAGES_DIR / file, title=title, icon=icon)
    for file, title, icon in PAGES
    if (PAGES_DIR / file).exists()
]


def _home() -> None:
    st.switch_page(pages[0])


# The root URL opens the first page through a hidden page of its own, so that every page,
# the first one included, has a path of its own: ``/overview`` is a deep link like the others.
home = st.Page(_home, title="dynab", url_path="home", default=True, visibility="hidden")
navigation = st.navigation([home, *pages], position="sidebar" if user else "hidden")
if user is not None:
    with st.sidebar:
        st.caption(f"Signed in as **{md(user.name)}** ({user.role.value})")
        st.button("Sign out", key="app_sign_out", on_click=sign_out)
        clock_label = data.clock_label(data.clock())
        if clock_label:
            st.caption(clock_label)
sync_cookie()
# Every page starts with ``signed_in_user()``, which draws the sign-in and stops the page for a
# visitor; gating in the page (not only here) keeps a deep link's page from running unsigned.
navigation.run()
