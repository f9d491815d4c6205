"""User text shown as plain text inside the console's Markdown.

Streamlit renders titles, captions, alerts, metric labels and ``st.markdown`` as Markdown
(links, images, colour and icon directives, LaTeX). Anything that comes from the store or from
a person -- experiment names, descriptions, model codes and labels, area names, audit ``by``,
user names, error messages that quote them -- goes through :func:`md` before it is placed in
such an element, so that a name like ``![x](http://host/x.png)`` shows as those characters
instead of making every viewer's browser fetch an image. Tables (``st.dataframe``), ``st.text``
and ``st.code`` show text as it is and need no escaping.
"""

from __future__ import annotations

import re

# Every ASCII punctuation character may be backslash-escaped in CommonMark; these are the ones
# Markdown, Streamlit's directives (``:red[...]``, ``:material/x:``) or LaTeX (``$``) give a
# meaning anywhere in a line.
_SPECIAL = re.compile(r"([\\`*_{}\[\]()#!|<>~$:])")
# ... and these only at the start of a line: list items ("- x", "+ x", "1. x", "1) x").
_LEADING = re.compile(r"^(\d*)([-+.)])")


def md(value: object) -> str:
    """``value`` as Markdown source that renders as exactly its text, on one line."""
    text = _SPECIAL.sub(r"\\\1", " ".join(str(value).split()))
    return _LEADING.sub(r"\1\\\2", text)
