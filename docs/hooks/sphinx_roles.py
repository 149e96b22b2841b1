"""MkDocs hook: show the Sphinx roles left in docstrings as plain code.

Many docstrings name other objects with Sphinx roles (``:class:`Run```,
``:meth:`~campaignkit.kit.CampaignKit.tick```). mkdocstrings renders a
Google-style docstring as Markdown, where such a role comes out as
``:class:<code>Run</code>``. This hook drops the role and, like Sphinx,
shows only the last part of a name written with a leading ``~``.
"""

from __future__ import annotations

import re
from typing import Any

ROLE = re.compile(r":(?:attr|class|const|data|exc|func|meth|mod|obj):<code>(~?)([^<]*)</code>")


def plain(match: re.Match[str]) -> str:
    """The role's name as code: its last dotted part when written with ``~``."""
    tilde, name = match.groups()
    return f"<code>{name.rsplit('.', 1)[-1] if tilde else name}</code>"


def on_page_content(html: str, **_: Any) -> str:
    """Rewrite the roles of one rendered page."""
    return ROLE.sub(plain, html)
