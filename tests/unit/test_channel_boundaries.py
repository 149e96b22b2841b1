"""Absurd arguments to the issue-11 channels and the worker are refused as ValidationError.

Each case once escaped as a raw OverflowError or UnicodeError (or was accepted
and broke later, inside ``send``); these tests pin the typed refusal.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

import campaignkit as ck
from campaignkit.adapters.smtp import SMTPChannel
from campaignkit.errors import ValidationError


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"host": "x" * 64 + ".example.com"}, "host"),  # a label over 63: UnicodeError in send
        ({"host": "x" * 300}, "host"),
        ({"host": "smtp..example.com"}, "host"),  # an empty label
        ({"host": "h\x00"}, "host"),
        ({"host": "h\x7f"}, "host"),
        ({"host": "h", "timeout": 10**400}, "timeout"),  # OverflowError in math.isfinite
        ({"host": "h", "timeout": 1e300}, "timeout"),  # OverflowError in socket at send
        ({"host": "h", "timeout": 3600.5}, "timeout"),
    ],
)
def test_smtp_absurd_arguments_are_named(kwargs: dict[str, Any], named: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SMTPChannel(**kwargs)
    assert f"{named} " in str(caught.value)
    assert len(str(caught.value)) < 1000  # a huge host is not echoed in full


@pytest.mark.parametrize(
    "host", ["smtp.example.com", "127.0.0.1", "::1", "localhost", "smtp.exämple.com", "a" * 63]
)
def test_smtp_ordinary_hosts_are_accepted(host: str) -> None:
    assert host in repr(SMTPChannel(host, 25, security="none", timeout=3600))


@pytest.mark.parametrize("timeout", [10**400, 1e300, 3601, math.inf, math.nan])
def test_webhook_absurd_timeouts_are_named(timeout: float) -> None:
    with pytest.raises(ValidationError, match="timeout"):
        ck.WebhookChannel("https://example.com/hook", timeout=timeout)


@pytest.mark.parametrize("poll", [10**12, 10**400, 86_401, 1e300])
def test_run_forever_refuses_a_poll_beyond_a_day(poll: float) -> None:
    kit = ck.CampaignKit.in_memory()
    with pytest.raises(ValidationError, match="poll"):
        kit.run_forever(poll=poll, handle_signals=False)
