"""Campaigns delivered through SMTPChannel into a real SMTP server, end to end through a kit.

A SQLite kit on a ManualClock sends to an aiosmtpd server on loopback: reply
codes end in the ledger and the report (451 is RETRY then SENT, 550 is FAILED
with its code), and a server that drops connections mid-batch loses no message.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pendulum
import pytest

import campaignkit as ck
from campaignkit.adapters.smtp import message_id
from campaignkit.domain.delivery import idempotency_key
from campaignkit.testing import ManualClock, SequentialIds
from tests.factories import T0
from tests.integration.smtp_server import RecordingHandler, smtp_server

C = ck.ChannelType
L = ck.LedgerState
SETTINGS = ck.DeliverySettings(
    batch_size=10,
    max_attempts=4,
    retry_base=pendulum.duration(seconds=30),
    retry_cap=pendulum.duration(minutes=2),
)


def kit_sending_to(tmp_path: Path, port: int, clock: ManualClock) -> ck.CampaignKit:
    channel = ck.SMTPChannel("127.0.0.1", port, security="none", connections=3, timeout=5)
    return ck.CampaignKit.sqlite(
        tmp_path / "c.db",
        clock,
        {C.EMAIL: channel},
        delivery=SETTINGS,
        ids=SequentialIds(),
    )


def launch(kit: ck.CampaignKit, people: Sequence[str]) -> ck.Campaign:
    """A marketing email campaign to ``people`` (``<pid>@example.com``), activated and ticked."""
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    admin = kit.as_user("ada")
    surface = admin.create_surface(
        name="Newsletter",
        channel=C.EMAIL,
        settings=ck.EmailSettings(sender="news@shop.example", sender_name="Boutique Zoë"),
    )
    for pid in people:
        kit.profiles.upsert(
            ck.Profile(
                id=pid,
                identities={"email": f"{pid}@example.com"},
                attributes={"firstName": pid.title()},
                consents={C.EMAIL: True},
            )
        )
    kit.audiences.define("all", list(people))
    campaign = admin.create_campaign(
        name="Winter sale",
        audience="all",
        namespace="email",
        actions=[
            ck.Action(
                surface.id,
                ck.EmailContent(
                    subject="Soldes d'hiver, {{ profile.firstName }} ✨",
                    html="<p>Bonjour {{ profile.firstName }}</p>",
                ),
            )
        ],
        schedule=ck.Schedule(),
    )
    admin.activate(campaign.id)
    kit.tick()
    return admin.get(campaign.id)


def entries(kit: ck.CampaignKit, campaign_id: str) -> dict[str, ck.LedgerEntry]:
    with kit.store.unit_of_work() as uow:
        [run] = uow.runs.for_campaign(campaign_id)
        return {e.profile_id: e for e in uow.ledger.entries(run.id)}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def kits() -> Iterator[list[ck.CampaignKit]]:
    opened: list[ck.CampaignKit] = []
    yield opened
    for kit in opened:
        kit.close()
        channel = kit.channels[C.EMAIL]
        assert isinstance(channel, ck.SMTPChannel)
        channel.close()


def test_451_is_retried_then_sent_and_550_fails_with_its_code(
    tmp_path: Path, clock: ManualClock, kits: list[ck.CampaignKit]
) -> None:
    def rcpt(address: str, before: int) -> str | None:
        if address.startswith("later") and before == 0:  # the first attempt only
            return "451 4.3.0 try later"
        if address.startswith("gone"):
            return "550 5.1.1 no such user"
        return None

    handler = RecordingHandler(rcpt=rcpt)
    people = ["ann", "later1", "bob", "gone1", "later2", "cyd", "gone2"]
    with smtp_server(handler) as port:
        kit = kit_sending_to(tmp_path, port, clock)
        kits.append(kit)
        campaign = launch(kit, people)

        first = entries(kit, campaign.id)
        assert {pid: e.state for pid, e in first.items()} == {
            "ann": L.SENT,
            "bob": L.SENT,
            "cyd": L.SENT,
            "later1": L.RETRY,
            "later2": L.RETRY,
            "gone1": L.FAILED,
            "gone2": L.FAILED,
        }
        for pid in ("later1", "later2"):
            assert first[pid].error == "451 4.3.0 try later"
            assert first[pid].next_attempt_at is not None
        for pid in ("gone1", "gone2"):
            assert first[pid].error == "550 5.1.1 no such user"
        report = kit.as_user("ada").report(campaign.id)
        assert (report.sent, report.failed, report.counts.pending) == (3, 2, 2)

        # past the backoff, the engine re-sends on its clock and the server takes them
        kit.run_until(T0.add(minutes=10))
        final = entries(kit, campaign.id)
    assert {pid: e.state for pid, e in final.items() if pid.startswith("later")} == {
        "later1": L.SENT,
        "later2": L.SENT,
    }
    assert final["later1"].attempts == 2
    report = kit.as_user("ada").report(campaign.id)
    assert (report.sent, report.failed, report.retries, report.targeted) == (5, 2, 2, 7)
    assert report.counts.pending == 0

    # what arrived: one message per deliverable person, its provider id is its Message-ID
    delivered = sorted(r.rcpt_tos[0] for r in handler.received)
    assert delivered == sorted(f"{pid}@example.com" for pid in people if not pid.startswith("gone"))
    for pid, entry in final.items():
        if entry.state is L.SENT:
            [received] = handler.to(f"{pid}@example.com")
            assert received.message_id == f"<{entry.provider_message_id}>"
            key = idempotency_key(entry.run_id, entry.action_id, pid)
            assert entry.provider_message_id == message_id(key, "shop.example")
            parsed = received.parsed
            assert str(parsed["Subject"]) == f"Soldes d'hiver, {pid.title()} ✨"
            assert parsed["From"].addresses[0].display_name == "Boutique Zoë"
            assert parsed["List-Unsubscribe"] is None  # no unsubscribe URL or mailto configured


def test_a_server_dropping_connections_mid_batch_loses_no_message(
    tmp_path: Path, clock: ManualClock, kits: list[ck.CampaignKit]
) -> None:
    """Every 7th DATA dies before its reply (half after the server kept the message).

    After the retries every recipient has its message; a repeat (the server
    kept the message but the reply was lost) carries the first Message-ID.
    """
    handler = RecordingHandler(
        drop=lambda n: None if n % 7 else ("keep" if n % 14 == 0 else "lose")
    )
    people = [f"p{i:02d}" for i in range(40)]
    with smtp_server(handler) as port:
        kit = kit_sending_to(tmp_path, port, clock)
        kits.append(kit)
        campaign = launch(kit, people)
        assert any(e.state is L.RETRY for e in entries(kit, campaign.id).values())
        kit.run_until(T0.add(hours=1))
        final = entries(kit, campaign.id)
    assert {e.state for e in final.values()} == {L.SENT}
    ids = {r.message_id for r in handler.received}
    assert len(ids) == len(people)  # no message lost
    for pid, entry in final.items():
        copies = handler.to(f"{pid}@example.com")
        assert {r.message_id for r in copies} == {f"<{entry.provider_message_id}>"}
        assert 1 <= len(copies) <= entry.attempts  # a repeat only where a reply was lost
    lost = [n for n in range(1, handler.data_commands + 1) if n % 7 == 0 and n % 14 != 0]
    assert len(handler.received) == handler.data_commands - len(lost)
    assert handler.data_commands > len(people)  # some were dropped and sent again
    assert len(handler.received) > len(people)  # and some of those arrived twice, same id
    report = kit.as_user("ada").report(campaign.id)
    assert (report.sent, report.failed, report.targeted) == (40, 0, 40)


def test_the_list_unsubscribe_header_received_by_smtp_unsubscribes_with_one_click(
    tmp_path: Path, clock: ManualClock, kits: list[ck.CampaignKit]
) -> None:
    """The kit signs the URL, the channel puts it in the header, the header's URL unsubscribes.

    (Transactional messages never carry the headers: see test_smtp_channel.py.)
    """
    handler = RecordingHandler()
    with smtp_server(handler) as port:
        channel = ck.SMTPChannel("127.0.0.1", port, security="none", timeout=5)
        kit = ck.CampaignKit.sqlite(
            tmp_path / "c.db",
            clock,
            {C.EMAIL: channel},
            ids=SequentialIds(),
            secret="smtp-round-trip-secret-0123456789",
        )
        kits.append(kit)
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        admin = kit.as_user("ada")
        settings = ck.EmailSettings(
            sender="news@shop.example",
            unsubscribe_url="https://shop.example/u",
            unsubscribe_mailto="unsub@shop.example",
        )
        surface = admin.create_surface(name="News", channel=C.EMAIL, settings=settings)
        for pid in ("ann", "bob"):
            kit.profiles.upsert(
                ck.Profile(
                    id=pid, identities={"email": f"{pid}@example.com"}, consents={C.EMAIL: True}
                )
            )
        kit.audiences.define("all", ["ann", "bob"])
        campaign = admin.create_campaign(
            name="Winter sale",
            audience="all",
            namespace="email",
            actions=[ck.Action(surface.id, ck.EmailContent(subject="Hi", html="<p>Hi</p>"))],
            schedule=ck.Schedule(),
        )
        admin.activate(campaign.id)
        kit.tick()
    assert len(handler.received) == 2
    [to_ann] = [r.parsed for r in handler.to("ann@example.com")]
    [to_bob] = [r.parsed for r in handler.to("bob@example.com")]
    https, mailto = str(to_ann["List-Unsubscribe"]).split(", ")
    assert mailto == "<mailto:unsub@shop.example?subject=unsubscribe>"
    assert str(to_ann["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
    assert str(to_bob["List-Unsubscribe"]).split(", ")[0] != https  # one token per recipient
    url = https.removeprefix("<").removesuffix(">")
    assert url.startswith("https://shop.example/u?token=")

    result = kit.unsubscribe(url)  # what a mailbox provider's one-click POST leads to
    assert result.recorded
    assert result.token.profile_id == "ann"
    profile = kit.profiles.get("ann")
    assert profile is not None
    assert profile.consents.get(C.EMAIL) is False
    assert kit.as_user("ada").report(campaign.id).feedback == {ck.FeedbackEvent.UNSUBSCRIBED: 1}
