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
navigation = st.navigation(
    [
        st.Page(PAGES_DIR / file, title=title, icon=icon, default=(i == 0))
        for i, (file, title, icon) in enumerate(PAGES)
        if (PAGES_DIR / file).exists()
    ],
    position="sidebar" if user else "hidden",
)
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
