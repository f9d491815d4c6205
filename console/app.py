"""The dynab console: entry point. Run with ``streamlit run console/app.py``."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

PAGES = Path(__file__).resolve().parent / "pages"

st.set_page_config(page_title="dynab", layout="wide")

navigation = st.navigation(
    [
        st.Page(PAGES / "overview.py", title="Overview", default=True),
    ]
)
navigation.run()
