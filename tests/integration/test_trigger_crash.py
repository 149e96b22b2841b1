"""Crash tests of an API trigger on SQLite: a worker killed after accept, or at the send.

A transactional API-triggered campaign that creates its profiles lives in a
SQLite file. A child process (a real interpreter) opens a kit on it and:

- ``accept``: calls ``trigger()`` and SIGKILLs itself as soon as the call
  returns, before any tick (the call is accepted; nothing was handed over);
- ``send``: calls ``trigger()`` and ``tick()``, and SIGKILLs itself inside the
  channel call, after writing the message's idempotency key to a file (the
  claim, the decision and the intent were one transaction; the provider got
  the message; its outcome was never recorded).

A fresh kit then ticks (past the dead worker's lease): the recipient gets
exactly one more message in the first case and, in the second, the same
message again with the same idempotency key (a provider that honours it
drops the copy), the created profile is stored, the run SUCCEEDED and the
report counts one sent. The children import this module, so their code is
type-checked and linted like the rest of the suite. Nothing sleeps.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Final

import pendulum
import pytest

import campaignkit as ck
from campaignkit.testing import CallbackChannel, ManualClock

ROOT: Final = Path(__file__).resolve().parents[2]
T0: Final = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
EMAIL: Final = ck.ChannelType.EMAIL
CHILD_TIMEOUT: Final = 120.0
"""Seconds a child may take before the test fails (a bound, never slept)."""
CHILD_BOOT: Final = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from tests.integration.test_trigger_crash import child_main; child_main(sys.argv[2:])"
)


def _kit(path: Path, deliver: CallbackChannel, at: pendulum.DateTime) -> ck.CampaignKit:
    return ck.CampaignKit.sqlite(path, ManualClock(at), {EMAIL: deliver})


def _accept(message: ck.Message) -> ck.SendResult:
    return ck.Accepted(f"mail-{message.idempotency_key}")


def _recipient() -> ck.Recipient:
    return ck.Recipient(
        user_id="ada@example.com", namespace="email", context={"link": "https://x/1"}
    )


def child_main(argv: list[str]) -> None:
    """A worker that dies at ``moment`` (``accept`` or ``send``) of one trigger."""
    path, moment, campaign_id, keys = Path(argv[0]), argv[1], argv[2], Path(argv[3])

    def dying(message: ck.Message) -> ck.SendResult:
        with keys.open("a", encoding="utf-8") as out:
            out.write(message.idempotency_key + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")  # pragma: no cover

    kit = _kit(path, CallbackChannel(dying), T0)
    kit.as_user("ada").trigger(campaign_id, [_recipient()], request_id="req-1")
    if moment == "accept":
        os.kill(os.getpid(), signal.SIGKILL)
    kit.tick()
    raise AssertionError("the worker should have died")  # pragma: no cover


def _campaign(path: Path) -> str:
    kit = _kit(path, CallbackChannel(_accept), T0)
    try:
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        ada = kit.as_user("ada")
        surface = ada.create_surface(
            name="Reset",
            channel=EMAIL,
            settings=ck.EmailSettings(sender="no-reply@example.com"),
            category=ck.Category.TRANSACTIONAL,
        )
        campaign = ada.create_campaign(
            name="Password reset",
            type=ck.CampaignType.API_TRIGGERED,
            category=ck.Category.TRANSACTIONAL,
            namespace="email",
            create_profiles=True,
            actions=[
                ck.Action(surface.id, ck.EmailContent(subject="Reset", html="{{ context.link }}"))
            ],
        )
        ada.activate(campaign.id)
        kit.tick()
        return campaign.id
    finally:
        kit.close()


@pytest.mark.parametrize("moment", ["accept", "send"])
def test_a_worker_killed_after_accept_or_at_the_send_delivers_once_on_the_next_tick(
    tmp_path: Path, moment: str
) -> None:
    path = tmp_path / "kit.db"
    keys = tmp_path / "handed.txt"
    campaign_id = _campaign(path)
    child = subprocess.run(
        [sys.executable, "-c", CHILD_BOOT, str(ROOT), str(path), moment, campaign_id, str(keys)],
        capture_output=True,
        text=True,
        timeout=CHILD_TIMEOUT,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr
    dead = keys.read_text(encoding="utf-8").split() if keys.exists() else []
    assert len(dead) == (1 if moment == "send" else 0)

    sent: list[ck.Message] = []

    def record(message: ck.Message) -> ck.SendResult:
        sent.append(message)
        return _accept(message)

    later = T0.add(minutes=5)  # past the dead worker's lease (one minute)
    kit = _kit(path, CallbackChannel(record), later)
    try:
        ada = kit.as_user("ada")
        kit.tick()
        assert [m.profile_id for m in sent] == ["ada@example.com"]
        if dead:
            assert [m.idempotency_key for m in sent] == dead  # the same message again
        assert sent[0].fields["html"] == "https://x/1"
        kit.tick()  # nothing more
        assert len(sent) == 1
        created = kit.profiles.get("ada@example.com")
        assert created is not None
        assert created.identities == {"email": "ada@example.com"}
        again = ada.trigger(campaign_id, [_recipient()], request_id="req-1")
        assert again.status is ck.ExecutionStatus.SUCCEEDED  # the same execution, done
        kit.tick()
        assert len(sent) == 1
        report = ada.report(campaign_id)
        assert (report.targeted, report.sent, report.failed) == (1, 1, 0)
    finally:
        kit.close()
