"""Crash test: a webhook delivery SIGKILLed at seeded points loses nobody; repeats keep the id.

A one-shot SMS campaign to 300 profiles, kept in one SQLite file, is delivered
by worker processes (real interpreters, ``SystemClock``, batches of 20, a
one-second lease) through :class:`~campaignkit.WebhookChannel` (signed,
concurrency 8) into a :class:`LoopbackServer` in the test process, which
records every request. For each of five crashes a seeded generator picks N
in 1..30; the server answers the worker's first N - 1 requests and then
holds every answer, so the worker is stuck with requests the provider has
but whose outcome is not recorded. The test waits (on the server's
condition, never sleeping) until the N-th request arrived, SIGKILLs the
worker, and only then lets the held answers go (to a dead socket). The next
worker takes the run over once the dead worker's lease lapses and re-sends
what was in flight. A sixth worker finishes the run. Then:

- the run SUCCEEDED and every profile has exactly one ledger entry, SENT,
  whose provider id is one the server gave to a request for that profile;
- every profile was delivered at least once; every request carries the
  profile's one ``webhook-id`` (its idempotency key) and a valid signature;
- every request held at a crash was delivered again, with the same id.
"""

from __future__ import annotations

import base64
import collections
import hashlib
import hmac
import importlib
import os
import random
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import pendulum
import pytest

import campaignkit as ck
from campaignkit.domain.delivery import idempotency_key
from tests.integration.http_server import LoopbackServer, Received, Reply, loopback_server


def needs(module: str) -> Any:
    """Import an optional test dependency: skip without it, except under CI=true (fail)."""
    if os.environ.get("CI") == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"needs {module}: pip install -e '.[dev]'")


needs("httpx")

ROOT: Final = Path(__file__).resolve().parents[2]
SMS: Final = ck.ChannelType.SMS
PEOPLE: Final = 300
BATCH: Final = 20
CONCURRENCY: Final = 8
CRASHES: Final = 5
MAX_KILL: Final = 30
"""A crashing worker dies at its N-th request, N in ``1..30``.

A worker moves at most ``30 + 20`` profiles on before it dies (its requests
and the rest of the batch in flight), so five crashes leave at least 50 of
the 300 profiles for the last worker: every crash is sure to happen, and the
run to end after the last one.
"""
SEED: Final = 20261203
KEY: Final = bytes(range(100, 132))
SECRET: Final = "whsec_" + base64.b64encode(KEY).decode()
LEASE_SECONDS: Final = 1.0
CHILD_DEADLINE: Final = 30.0
"""Seconds a worker ticks before giving up (exit 3); a bound, never slept."""
POLL: Final = 0.05
CHILD_BOOT: Final = (
    "import sys; sys.path.insert(0, sys.argv[1]); "
    "from tests.integration.test_webhook_crash import child_main; child_main(sys.argv[2:])"
)


# ---------------------------------------------------------------- the worker (child side)


def child_main(argv: Sequence[str]) -> None:
    """Tick the store on the wall clock until the campaign's run is final (exit 0), or give up."""
    path, url, campaign_id = argv
    clock = ck.SystemClock()
    deadline = clock.now().add(seconds=CHILD_DEADLINE)
    settings = ck.DeliverySettings(batch_size=BATCH, lease=pendulum.duration(seconds=LEASE_SECONDS))
    pause = threading.Event()
    with (
        ck.WebhookChannel(url, secret=SECRET, concurrency=CONCURRENCY, timeout=60) as channel,
        ck.CampaignKit.sqlite(path, clock=clock, channels={SMS: channel}, delivery=settings) as kit,
    ):
        while clock.now() < deadline:
            kit.tick()
            with kit.store.unit_of_work() as uow:
                runs = uow.runs.for_campaign(campaign_id)
            if runs and all(run.status.is_final for run in runs):
                sys.exit(0)
            pause.wait(POLL)
    sys.exit(3)


# ---------------------------------------------------------------- the test (parent side)


def seed(path: Path) -> tuple[str, tuple[str, ...]]:
    """A store with ``PEOPLE`` consenting profiles and an activated one-shot SMS campaign."""
    with ck.CampaignKit.sqlite(path, clock=ck.SystemClock()) as kit:
        kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        ada = kit.as_user("ada")
        surface = ada.create_surface(
            name="Alerts", channel=SMS, settings=ck.SmsSettings(sender_id="SHOP")
        )
        people = tuple(f"p{i:03d}" for i in range(PEOPLE))
        assert isinstance(kit.profiles, ck.SQLiteProfileStore)
        kit.profiles.upsert_many(
            [
                ck.Profile(
                    pid,
                    identities={"email": f"{pid}@example.com"},
                    consents={SMS: True},
                    channel_data={SMS: f"+1555{i:07d}"},
                )
                for i, pid in enumerate(people)
            ]
        )
        kit.audiences.define("all", people)
        campaign = ada.create_campaign(
            name="Flash sale",
            audience="all",
            namespace="email",
            actions=[ck.Action(surface.id, ck.SmsContent(text="Flash sale today!"))],
        )
        ada.activate(campaign.id)
        return campaign.id, people


class Provider:
    """The server's script: accept, or hold every answer from a chosen request on."""

    def __init__(self) -> None:
        self.hold_from: int | None = None
        self.release = threading.Event()

    def __call__(self, received: Received) -> Reply:
        if self.hold_from is not None and received.number >= self.hold_from:
            return Reply(200, {}, b'{"id":"srv-%d"}' % received.number, hold=self.release)
        return Reply(200, {}, b'{"id":"srv-%d"}' % received.number)


def start_worker(path: Path, url: str, campaign_id: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-c", CHILD_BOOT, str(ROOT), str(path), url, campaign_id],
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def crash_worker(
    server: LoopbackServer, provider: Provider, worker: subprocess.Popen[bytes], kill_at: int
) -> list[Received]:
    """Hold answers from the worker's ``kill_at``-th request on; SIGKILL it once that arrived.

    Returns the requests held (in flight at the kill).
    """
    base = len(server.received())
    provider.hold_from = base + kill_at
    deadline = ck.SystemClock().now().add(seconds=CHILD_DEADLINE)
    try:
        while not server.wait_until(lambda s: len(s.requests) >= base + kill_at, timeout=POLL):
            assert worker.poll() is None, f"worker ended ({worker.returncode}) before its crash"
            assert ck.SystemClock().now() < deadline, "the worker never reached its crash"
    finally:
        worker.kill()
        worker.wait()
        provider.hold_from = None
        provider.release.set()
        provider.release = threading.Event()
    assert worker.returncode == -9
    return [r for r in server.received() if r.number >= base + kill_at]


def signed(received: Received) -> bool:
    headers = received.headers
    data = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + received.body
    digest = base64.b64encode(hmac.new(KEY, data, hashlib.sha256).digest()).decode()
    return headers["webhook-signature"] == f"v1,{digest}"


def test_five_sigkills_lose_nobody_and_every_repeat_carries_the_same_webhook_id(
    tmp_path: Path,
) -> None:
    path = tmp_path / "c.db"
    campaign_id, people = seed(path)
    provider = Provider()
    rng = random.Random(SEED)
    log = tmp_path / "workers.log"
    held: list[list[Received]] = []
    with loopback_server(provider) as server:
        for _ in range(CRASHES):
            worker = start_worker(path, server.url, campaign_id, log)
            held.append(crash_worker(server, provider, worker, rng.randint(1, MAX_KILL)))
        last = start_worker(path, server.url, campaign_id, log)
        assert last.wait(timeout=CHILD_DEADLINE + 15) == 0, log.read_text()
        received = server.received()

    with ck.CampaignKit.sqlite(path, clock=ck.SystemClock()) as kit:
        with kit.store.unit_of_work() as uow:
            (run,) = uow.runs.for_campaign(campaign_id)
            entries = list(uow.ledger.entries(run.id))
        report = kit.as_user("ada").report(campaign_id)
    assert run.status is ck.RunStatus.SUCCEEDED, run.error
    assert (report.sent, report.counts.pending, report.counts.failed) == (PEOPLE, 0, 0)
    # exactly one final ledger outcome per profile
    assert sorted(e.profile_id for e in entries) == list(people)
    assert {e.state for e in entries} == {ck.LedgerState.SENT}
    (action_id,) = {e.action_id for e in entries}

    deliveries: dict[str, list[Received]] = collections.defaultdict(list)
    for request in received:
        deliveries[request.json()["profile_id"]].append(request)
    assert set(deliveries) == set(people), "every profile delivered at least once"
    for pid, requests in deliveries.items():
        key = idempotency_key(run.id, action_id, pid)
        assert {r.headers["webhook-id"] for r in requests} == {key}, pid
        assert {r.headers["idempotency-key"] for r in requests} == {key}, pid
        assert len({r.body for r in requests}) == 1, pid
    assert all(signed(r) for r in received)
    for entry in entries:  # the provider id recorded is one the server gave that profile
        ids = {f"srv-{r.number}" for r in deliveries[entry.profile_id]}
        assert entry.provider_message_id in ids, entry

    # every request held at a crash reached the provider again, with the same id
    assert all(held), "each crash caught at least one request in flight"
    for caught in held:
        for request in caught:
            again = deliveries[request.json()["profile_id"]]
            assert any(r.number > request.number for r in again), request.headers["webhook-id"]
    repeats = sum(len(r) - 1 for r in deliveries.values())
    assert CRASHES <= repeats <= CRASHES * BATCH * 2
