"""Email over SMTP on the standard library (``smtplib``, ``email``).

:class:`SMTPChannel` sends a batch concurrently over a pool of reused
connections; :func:`html_to_text` derives the plain-text part of an HTML
email; :func:`message_id` is the ``Message-ID`` (and provider id) a message's
idempotency key gives.
"""

from __future__ import annotations

from campaignkit.adapters.smtp._compose import message_id
from campaignkit.adapters.smtp._text import html_to_text
from campaignkit.adapters.smtp.channel import SMTPChannel

__all__ = ["SMTPChannel", "html_to_text", "message_id"]
