"""The console's access to the store: one cached client per process, cached queries.

Business logic lives in ``services``; this module only wires the store into Streamlit's caches.
"""

from __future__ import annotations

import os

import streamlit as st

from services.mongo.repository import MongoStore, connect


@st.cache_resource(show_spinner=False)
def get_store() -> MongoStore:
    """The MongoDB store at ``MONGODB_URI`` (Streamlit secrets ``mongodb_uri`` as a fallback)."""
    uri = os.environ.get("MONGODB_URI")
    if not uri:
        try:
            uri = st.secrets.get("mongodb_uri")
        except FileNotFoundError:
            uri = None
    return MongoStore(connect(uri, timeout_ms=3000))
