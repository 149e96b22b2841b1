"""Absurd arguments to the issue-11 channels and the worker are refused as ValidationError.

Each case once escaped as a raw OverflowError or UnicodeError (or was accepted
and broke later, inside ``send``); these tests pin the typed refusal.
"""

from __future__ import annotations

import math
import os
from typing import Any

import pendulum
import pytest

import campaignkit as ck
from campaignkit.adapters.smtp import SMTPChannel
from campaignkit.errors import ValidationError
from campaignkit.worker_config import load_config, parse_config


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


@pytest.mark.parametrize(
    ("delivery", "named"),
    [
        ({"lease": 10**30}, "delivery.lease must be at most 86400"),  # was OverflowError
        ({"batch_size": 10**30}, "delivery.batch_size must be at most 100000"),
        ({"max_attempts": 10**30}, "delivery.max_attempts must be at most 1000"),
    ],
)
def test_worker_config_refuses_absurd_delivery_numbers(
    delivery: dict[str, int], named: str
) -> None:
    document = {"channels": {"push": {"type": "console"}}, "delivery": delivery}
    with pytest.raises(ValidationError, match=named):
        parse_config(document, source="worker.toml", env={})


@pytest.mark.parametrize("reference", ["..x:f", ".x:f"])
def test_worker_config_refuses_a_relative_payload_module(reference: str) -> None:
    document = {"channels": {"sms": {"type": "webhook", "url": "https://x/", "payload": reference}}}
    with pytest.raises(ValidationError, match="cannot be imported"):  # was a raw TypeError
        parse_config(document, source="worker.toml", env={})


def test_worker_config_path_with_a_nul_is_named() -> None:
    with pytest.raises(ValidationError, match="cannot read it"):  # was a raw ValueError
        load_config("worker\x00.toml", env={})


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/u?token=abc",
        "https://example.com/u?a=1&token=",
        "https://example.com/u?token",
    ],
)
def test_an_unsubscribe_url_with_its_own_token_parameter_is_refused(url: str) -> None:
    """The kit appends token=<signed>; with one already there kit.unsubscribe refused every link."""
    settings = ck.EmailSettings(sender="shop@example.com", unsubscribe_url=url)
    assert any("already has a token=" in problem for problem in settings.problems())


def test_other_query_parameters_stay_allowed() -> None:
    settings = ck.EmailSettings(
        sender="shop@example.com", unsubscribe_url="https://example.com/u?list=news&tokens=1"
    )
    assert settings.problems() == []


def test_a_webhook_repr_hides_the_password_of_its_url() -> None:
    if os.environ.get("CI") != "true":
        pytest.importorskip("httpx", reason="needs httpx: pip install -e '.[dev]'")
    channel = ck.WebhookChannel("https://mailer:s3cret-pw@hooks.example.com:8443/in?x=1")
    try:
        shown = repr(channel)
    finally:
        channel.close()
    assert "s3cret-pw" not in shown
    assert "https://mailer:<hidden>@hooks.example.com:8443/in?x=1" in shown
    plain = ck.WebhookChannel("https://hooks.example.com/in")
    plain.close()
    assert "'https://hooks.example.com/in'" in repr(plain)


def test_a_huge_webhook_url_is_refused_without_being_echoed() -> None:
    with pytest.raises(ValidationError, match="url is 10000020 characters long") as caught:
        ck.WebhookChannel("https://example.com/" + "a" * 10_000_000)
    assert len(str(caught.value)) < 300
    with pytest.raises(ValidationError, match="url must be a string") as caught:
        ck.WebhookChannel(b"x" * 10_000_000)  # type: ignore[arg-type]
    assert len(str(caught.value)) < 400


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (lambda: SMTPChannel("h", timeout=10**5000), "timeout"),
        (lambda: SMTPChannel("h", port=10**5000), "port"),
        (lambda: SMTPChannel("h", connections=10**5000), "connections"),
        (lambda: ck.WebhookChannel("https://x/", timeout=10**5000), "timeout"),
        (lambda: ck.WebhookChannel("https://x/", concurrency=10**5000), "concurrency"),
    ],
)
def test_an_int_too_long_to_print_is_still_named(build: Any, named: str) -> None:
    """repr() of an int over 4300 digits raises ValueError; the message must not use it."""
    with pytest.raises(ValidationError, match=named):
        build()


@pytest.mark.parametrize(
    "url",
    ["https://example.com/u?x=" + "a" * 600, "https://exämple.com/u"],
    ids=["too-long", "non-ascii"],
)
def test_an_unsubscribe_url_that_cannot_fit_a_header_line_is_named(url: str) -> None:
    """The kit appends a ~250-character token; the link must fit one ASCII header line."""
    problems = ck.EmailSettings(sender="news@example.com", unsubscribe_url=url).problems()
    assert len(problems) == 1
    assert "unsubscribe_url" in problems[0]
    assert "at most 512 characters" in problems[0]


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": "500"}, "batch_size"),
        ({"batch_size": 10**9}, "batch_size"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"retry_base": 30}, "retry_base"),
        ({"retry_cap": pendulum.duration(seconds=0)}, "retry_cap"),
        ({"lease": pendulum.duration(days=2)}, "lease"),
        ({"retry_cap": pendulum.duration(days=31)}, "retry_cap"),
        ({"lease": -pendulum.duration(seconds=1)}, "lease"),
        ({"heartbeat": 1}, "heartbeat"),
    ],
)
def test_delivery_settings_refuse_wrong_types_and_absurd_values(
    changes: dict[str, Any], named: str
) -> None:
    """A batch of 0 would spin for ever, a lease of a month would strand a crashed run."""
    with pytest.raises(ValidationError, match=named):
        ck.DeliverySettings(**changes)


def test_delivery_settings_accept_their_bounds() -> None:
    settings = ck.DeliverySettings(
        batch_size=100_000,
        max_attempts=1,
        retry_base=pendulum.duration(seconds=1),
        lease=pendulum.duration(days=1),
        heartbeat=False,
    )
    assert settings.batch_size == 100_000
