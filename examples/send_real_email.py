"""Send a marketing campaign as real email over SMTP, then honour a one-click unsubscribe.

By default the script starts its own SMTP server on 127.0.0.1 (aiosmtpd, a
free port) and prints what that server received: each message's ``From``,
``To``, ``Subject`` and ``List-Unsubscribe``. Point it at another server with
``--host`` and ``--port`` (plain SMTP, ``security="none"``: a local relay or a
catcher such as MailHog; for a real provider use ``security="starttls"`` and a
login, see docs/channels.md).

The kit lives in a temporary SQLite file (removed at the end) on a
``ManualClock``, so the one-shot campaign goes live and delivers on the first
``tick()``: the script finishes in about a second. The default server needs
``aiosmtpd`` (``pip install -e '.[dev]'``)::

    python examples/send_real_email.py
    python examples/send_real_email.py --host 127.0.0.1 --port 1025
"""

from __future__ import annotations

import argparse
import email
import email.policy
import socket
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pendulum

import campaignkit as ck
from campaignkit.testing import ManualClock

# at least 16 bytes; a real host keeps it in its configuration (CAMPAIGNKIT_SECRET)
SECRET = "example-secret-do-not-use-in-production"
PEOPLE = [("p1", "Ann"), ("p2", "Bob"), ("p3", "Chloé")]


class Inbox:
    """An aiosmtpd handler that keeps every message it accepts (parsed)."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Keep the message; answer 250 (accepted)."""
        data = bytes(envelope.original_content).replace(b"\r\n", b"\n")
        parsed = email.message_from_bytes(data, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.messages.append(parsed)
        return "250 OK"


@contextmanager
def local_smtp_server(inbox: Inbox) -> Iterator[int]:
    """Run an aiosmtpd server on 127.0.0.1 (a free port) while the block runs; yield the port."""
    from aiosmtpd.controller import Controller  # noqa: PLC0415 - optional (the dev extra)

    with socket.socket() as probe:  # aiosmtpd needs a port number: ask the system for a free one
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def send_campaign(host: str, port: int, folder: Path) -> tuple[ck.CampaignKit, str]:
    """Run a one-shot marketing email campaign through ``SMTPChannel``.

    Returns:
        The kit (open: close it) and the campaign's id.
    """
    clock = ManualClock(pendulum.datetime(2026, 12, 1, 9, tz="UTC"))
    smtp = ck.SMTPChannel(host, port, security="none", connections=2, timeout=10)
    kit = ck.CampaignKit.sqlite(
        folder / "campaigns.db", clock, {ck.ChannelType.EMAIL: smtp}, secret=SECRET
    )
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    for profile_id, name in PEOPLE:
        kit.profiles.upsert(
            ck.Profile(
                id=profile_id,
                identities={"email": f"{profile_id}@example.com"},
                attributes={"firstName": name},
                consents={ck.ChannelType.EMAIL: True},  # marketing email needs opt-in
            )
        )
    kit.audiences.define("subscribers", [p for p, _ in PEOPLE])
    ada = kit.as_user("ada")
    newsletter = ada.create_surface(
        name="Newsletter",
        channel=ck.ChannelType.EMAIL,
        settings=ck.EmailSettings(
            sender="news@shop.example",
            sender_name="The Shop",
            reply_to="help@shop.example",
            unsubscribe_url="https://shop.example/unsubscribe",  # the host's landing endpoint
        ),
    )
    content = ck.EmailContent(
        subject="Winter sale, {{ profile.firstName }}",
        html=(
            "<p>Hello {{ profile.firstName }}, everything is 30% off this week.</p>"
            '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p>'
        ),
    )
    campaign = ada.create_campaign(
        name="Winter sale",
        audience="subscribers",
        namespace="email",
        actions=[ck.Action(newsletter.id, content)],
        schedule=ck.Schedule(),  # one shot, as soon as it is activated
    )
    ada.activate(campaign.id)
    kit.tick()  # goes live and sends every message over SMTP
    smtp.close()  # QUIT the pooled connections
    return kit, campaign.id


def unsubscribe_link(message: EmailMessage) -> str:
    """The https URL of a message's ``List-Unsubscribe`` header (``<url>``)."""
    targets = [t.strip().strip("<>") for t in str(message["List-Unsubscribe"]).split(",")]
    return next(t for t in targets if t.startswith("https://"))


def show(kit: ck.CampaignKit, campaign_id: str, received: Sequence[EmailMessage]) -> None:
    """Print what the server received, the report, then unsubscribe one recipient."""
    ada = kit.as_user("ada")
    received = sorted(received, key=lambda m: str(m["To"]))  # two connections: any order
    if received:
        print(f"the SMTP server received {len(received)} message(s):")
        for message in received:
            print(f"  From: {message['From']}")
            print(f"  To: {message['To']}  Subject: {message['Subject']}")
            print(f"  List-Unsubscribe: {message['List-Unsubscribe']}")
            print(f"  List-Unsubscribe-Post: {message['List-Unsubscribe-Post']}")
    report = ada.report(campaign_id)
    print(f"report: targeted {report.targeted}, sent {report.sent}, failed {report.failed}")
    if not received and report.sent:  # another server: the URLs are in the mail it delivered
        print("(messages went to the server you named; open one to see its headers)")
    if not received:
        if not report.sent:  # refused or unreachable: answered transient, retried later
            print("nothing was accepted: is a plain SMTP server listening there?")
        return
    url = unsubscribe_link(received[0])
    # the host's endpoint at https://shop.example/unsubscribe does exactly this, for the
    # mailbox provider's one-click POST and for a person's GET alike
    first = kit.unsubscribe(url)
    again = kit.unsubscribe(url)  # the same link twice: nothing more happens
    print(
        f"unsubscribe {first.token.profile_id} from {first.token.channel.value}: "
        f"recorded {first.recorded}, the same link again: recorded {again.recorded}"
    )
    profile = kit.profiles.get(first.token.profile_id)
    assert profile is not None
    print(f"  email consent of {profile.id} is now {profile.consents[ck.ChannelType.EMAIL]}")
    feedback = {event.value: n for event, n in ada.report(campaign_id).feedback.items()}
    print(f"  report feedback: {feedback}")


def main(argv: Sequence[str] = ()) -> None:
    """Parse the arguments, send the campaign, print what happened."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--host", help="an SMTP server to send to (default: start one)")
    parser.add_argument("--port", type=int, default=25, help="its port (default 25)")
    args = parser.parse_args(list(argv))
    with tempfile.TemporaryDirectory(prefix="campaignkit-example-") as folder:
        if args.host is not None:
            kit, campaign_id = send_campaign(args.host, args.port, Path(folder))
            with kit:
                show(kit, campaign_id, [])
            return
        try:
            import aiosmtpd  # noqa: F401, PLC0415 - only to say how to install it
        except ImportError:
            print("this example starts a local SMTP server with aiosmtpd: pip install -e '.[dev]'")
            print("(or pass --host/--port of an SMTP server that accepts plain SMTP)")
            return
        inbox = Inbox()
        with local_smtp_server(inbox) as port:
            kit, campaign_id = send_campaign("127.0.0.1", port, Path(folder))
            with kit:
                show(kit, campaign_id, inbox.messages)


if __name__ == "__main__":
    main(sys.argv[1:])
