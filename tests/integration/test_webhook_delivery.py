"""Campaigns delivered through WebhookChannel into a real loopback server, on a SQLite kit.

The kit runs on a :class:`ManualClock`, the channel signs with the same
clock, and the server answers as each test scripts it. The ledger, the
report and what the server received are checked after each tick: a 429's
``Retry-After`` is honoured to the second on the kit's clock, a 500 is
retried then sent, a 400 fails for good with its code, a server slower than
the timeout is retried with the same ``webhook-id``, and email, SMS and push
all deliver through webhooks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import attrs
import pendulum
import pytest

import campaignkit as ck
from campaignkit.domain.delivery import idempotency_key
from campaignkit.testing import ManualClock
from tests.integration.http_server import LoopbackServer, Received, Reply, loopback_server


def needs(module: str) -> Any:
    """Import an optional test dependency: skip without it, except under CI=true (fail)."""
    if os.environ.get("CI") == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"needs {module}: pip install -e '.[dev]'")


needs("httpx")

T0: Final = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
KEY: Final = b"k" * 32
SECRET: Final = "whsec_" + base64.b64encode(KEY).decode()
EMAIL, SMS, PUSH = ck.ChannelType.EMAIL, ck.ChannelType.SMS, ck.ChannelType.PUSH
RETRY: Final = ck.DeliverySettings(
    batch_size=5, retry_base=pendulum.duration(seconds=30), retry_cap=pendulum.duration(minutes=5)
)


def sms_payload(message: ck.Message) -> Mapping[str, Any]:
    """An SMS provider's API document."""
    assert isinstance(message.settings, ck.SmsSettings)
    return {
        "to": message.address,
        "from": message.settings.sender_id,
        "text": message.fields["text"],
    }


@attrs.frozen
class Setup:
    kit: ck.CampaignKit
    clock: ManualClock
    campaign_id: str
    people: tuple[str, ...]

    def entries(self) -> dict[str, ck.LedgerEntry]:
        """The ledger of the campaign's one run, by profile."""
        with self.kit.store.unit_of_work() as uow:
            (run,) = uow.runs.for_campaign(self.campaign_id)
            return {e.profile_id: e for e in uow.ledger.entries(run.id)}

    def run(self) -> ck.Run:
        with self.kit.store.unit_of_work() as uow:
            (run,) = uow.runs.for_campaign(self.campaign_id)
            return run

    def at(self, instant: pendulum.DateTime) -> None:
        """Move the clock to ``instant`` and tick."""
        self.clock.set(instant)
        self.kit.tick()


def build(
    path: Path,
    channels: Mapping[ck.ChannelType, ck.Channel],
    clock: ManualClock,
    people: Sequence[str] = ("p1", "p2", "p3"),
) -> Setup:
    """A kit on ``path`` with consenting ``people`` and a live campaign, one action per channel."""
    kit = ck.CampaignKit.sqlite(path, clock=clock, channels=channels, delivery=RETRY)
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    ada = kit.as_user("ada")
    contents: dict[ck.ChannelType, tuple[Any, ck.Content]] = {
        EMAIL: (
            ck.EmailSettings(sender="news@example.com", sender_name="Shop"),
            ck.EmailContent(subject="Hi {{ profile.firstName }}", html="<p>Sale</p>", text="Sale"),
        ),
        SMS: (
            ck.SmsSettings(sender_id="SHOP"),
            ck.SmsContent(text="Sale, {{ profile.firstName }}!"),
        ),
        PUSH: (
            ck.PushSettings(app_id="com.example.shop", platform="android"),
            ck.PushContent(title="Sale", body="For {{ profile.firstName }}"),
        ),
    }
    actions = []
    for channel in channels:
        settings, content = contents[channel]
        surface = ada.create_surface(
            name=f"{channel.value} out", channel=channel, settings=settings
        )
        actions.append(ck.Action(surface.id, content))
    for number, pid in enumerate(people):
        kit.profiles.upsert(
            ck.Profile(
                pid,
                identities={"email": f"{pid}@example.com"},
                attributes={"firstName": pid.upper()},
                consents={EMAIL: True, SMS: True, PUSH: True},
                channel_data={SMS: f"+1555000{number:04d}", PUSH: f"token-{pid}"},
            )
        )
    kit.audiences.define("all", list(people))
    campaign = ada.create_campaign(name="Sale", audience="all", namespace="email", actions=actions)
    ada.activate(campaign.id)
    return Setup(kit, clock, campaign.id, tuple(people))


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with loopback_server() as running:
        yield running


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def sms(server: LoopbackServer, clock: ManualClock) -> Iterator[ck.WebhookChannel]:
    with ck.WebhookChannel(
        server.url + "/sms", secret=SECRET, payload=sms_payload, clock=clock, timeout=0.5
    ) as channel:
        yield channel


def verified(received: Received) -> bool:
    """An independent check of the Standard Webhooks signature."""
    headers = received.headers
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + received.body
    digest = base64.b64encode(hmac.new(KEY, signed, hashlib.sha256).digest()).decode()
    return headers["webhook-signature"] == f"v1,{digest}"


def by_address(received: Sequence[Received]) -> dict[str, list[Received]]:
    found: dict[str, list[Received]] = {}
    for request in received:
        found.setdefault(request.json()["to"], []).append(request)
    return found


def first_time(status: int, headers: Mapping[str, str] | None = None, only: str = "p2") -> Any:
    """A script answering ``status`` to the first request for ``only``, 200 otherwise."""
    seen: set[str] = set()
    address = f"+1555000{int(only[1:]) - 1:04d}"

    def script(received: Received) -> Reply:
        if received.json()["to"] == address and address not in seen:
            seen.add(address)
            return Reply(status, headers or {}, b'{"error": "slow down"}')
        return Reply(200, {}, b'{"message_id": "sms-%d"}' % received.number)

    return script


def test_a_429_is_retried_exactly_retry_after_later_on_the_kits_clock(
    tmp_path: Path, server: LoopbackServer, sms: ck.WebhookChannel, clock: ManualClock
) -> None:
    server.script = first_time(429, {"Retry-After": "120"})
    setup = build(tmp_path / "c.db", {SMS: sms}, clock)
    setup.kit.tick()
    entries = setup.entries()
    late = entries["p2"]
    assert (late.state, late.attempts, late.next_attempt_at) == (
        ck.LedgerState.RETRY,
        1,
        T0.add(seconds=120),
    )
    assert late.error == '429 Too Many Requests: {"error": "slow down"}'
    assert [entries[p].state for p in ("p1", "p3")] == [ck.LedgerState.SENT] * 2
    assert len(server.received()) == 3

    setup.at(T0.add(seconds=119))
    assert len(server.received()) == 3  # not yet
    assert setup.entries()["p2"].state is ck.LedgerState.RETRY

    setup.at(T0.add(seconds=120))
    received = server.received()
    assert len(received) == 4
    first, again = by_address(received)["+15550000001"]
    assert first.headers["webhook-id"] == again.headers["webhook-id"] == idempotency_key(*late.key)
    assert again.headers["webhook-timestamp"] == str(T0.add(seconds=120).int_timestamp)
    assert all(verified(r) for r in received)
    done = setup.entries()["p2"]
    assert (done.state, done.attempts, done.provider_message_id) == (
        ck.LedgerState.SENT,
        2,
        "sms-4",
    )
    assert setup.run().status is ck.RunStatus.SUCCEEDED
    setup.kit.close()


def test_a_500_is_retried_with_backoff_then_sent(
    tmp_path: Path, server: LoopbackServer, sms: ck.WebhookChannel, clock: ManualClock
) -> None:
    server.script = first_time(500)
    setup = build(tmp_path / "c.db", {SMS: sms}, clock)
    setup.kit.tick()
    late = setup.entries()["p2"]
    assert late.state is ck.LedgerState.RETRY
    assert late.error == '500 Internal Server Error: {"error": "slow down"}'
    assert late.next_attempt_at is not None
    assert T0 < late.next_attempt_at <= T0.add(minutes=5)  # the backoff, not a Retry-After

    setup.kit.run_until(T0.add(minutes=10))
    done = setup.entries()["p2"]
    assert (done.state, done.attempts) == (ck.LedgerState.SENT, 2)
    assert len(by_address(server.received())["+15550000001"]) == 2
    report = setup.kit.as_user("ada").report(setup.campaign_id)
    assert (report.sent, report.counts.failed, report.counts.retries) == (3, 0, 1)
    setup.kit.close()


def test_a_400_fails_for_good_with_its_code(
    tmp_path: Path, server: LoopbackServer, sms: ck.WebhookChannel, clock: ManualClock
) -> None:
    def script(received: Received) -> Reply:
        if received.json()["to"] == "+15550000001":
            return Reply(400, {}, b'{"code": 21211, "message": "invalid To number"}')
        return Reply(201)

    server.script = script
    setup = build(tmp_path / "c.db", {SMS: sms}, clock)
    setup.kit.run_until(T0.add(hours=2))
    entries = setup.entries()
    failed = entries["p2"]
    assert (failed.state, failed.attempts) == (ck.LedgerState.FAILED, 1)
    assert failed.error == '400 Bad Request: {"code": 21211, "message": "invalid To number"}'
    assert entries["p1"].provider_message_id == idempotency_key(*entries["p1"].key)  # no id given
    assert len(server.received()) == 3  # never retried
    report = setup.kit.as_user("ada").report(setup.campaign_id)
    assert (report.sent, report.counts.failed) == (2, 1)
    assert setup.run().status is ck.RunStatus.SUCCEEDED
    setup.kit.close()


def test_a_server_slower_than_the_timeout_is_retried_with_the_same_webhook_id(
    tmp_path: Path, server: LoopbackServer, sms: ck.WebhookChannel, clock: ManualClock
) -> None:
    release = threading.Event()
    server.script = lambda received: Reply(200, hold=release)
    setup = build(tmp_path / "c.db", {SMS: sms}, clock, people=("p1",))
    try:
        setup.kit.tick()
    finally:
        release.set()
    entry = setup.entries()["p1"]
    assert (entry.state, entry.error) == (ck.LedgerState.RETRY, "timeout after 0.5 s (ReadTimeout)")
    assert entry.next_attempt_at is not None

    server.script = lambda received: Reply(200, {}, b'{"id": "late-but-fine"}')
    setup.at(entry.next_attempt_at)
    first, again = server.received()
    assert first.headers["webhook-id"] == again.headers["webhook-id"]
    assert first.body == again.body
    assert setup.entries()["p1"].provider_message_id == "late-but-fine"
    setup.kit.close()


def test_email_sms_and_push_all_deliver_through_webhooks(
    tmp_path: Path, server: LoopbackServer, clock: ManualClock
) -> None:
    with ck.WebhookChannel(server.url + "/any", secret=SECRET, clock=clock, concurrency=4) as hook:
        setup = build(tmp_path / "c.db", {EMAIL: hook, SMS: hook, PUSH: hook}, clock)
        setup.kit.tick()
    received = server.received()
    assert len(received) == 9
    assert all(verified(r) for r in received)
    documents = {(d["channel"], d["profile_id"]): d for d in (r.json() for r in received)}
    assert set(documents) == {(c, p) for c in ("email", "sms", "push") for p in setup.people}
    email, text, push = (documents[c, "p2"] for c in ("email", "sms", "push"))
    assert (email["address"], email["fields"]) == (
        "p2@example.com",
        {"subject": "Hi P2", "html": "<p>Sale</p>", "text": "Sale"},
    )
    assert email["settings"]["sender_name"] == "Shop"
    assert (text["address"], text["fields"]) == ("+15550000001", {"text": "Sale, P2!"})
    assert (push["address"], push["fields"]) == ("token-p2", {"title": "Sale", "body": "For P2"})
    assert push["settings"] == {"app_id": "com.example.shop", "platform": "android"}
    assert {d["transactional"] for d in documents.values()} == {False}
    entries = setup.entries()  # three actions: the last profile's entries win, all SENT
    assert {e.state for e in entries.values()} == {ck.LedgerState.SENT}
    report = setup.kit.as_user("ada").report(setup.campaign_id)
    assert report.sent == 9
    setup.kit.close()
