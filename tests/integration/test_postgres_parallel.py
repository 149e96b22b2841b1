"""Delivery units of several workers run beside each other on PostgreSQL, and lock what they check.

Two kits on one schema, each with its own ``PostgresStore`` and pool, are two
workers as far as the server knows (another process would be no different:
the locks are the server's). The tests hold one worker inside a unit of its
delivery (a repository method of its store replaced by one that waits on an
event) and check what the other can do meanwhile:

- deliver another campaign's run whole, without waiting for the first
  worker's unit (its units take the store's key in shared mode);
- not claim a run whose row another unit holds: it is skipped at once
  (``FOR UPDATE SKIP LOCKED``), never waited for, and delivered later;
- not read the contact counts of a frequency cap while the first worker
  decides on them: it waits for the first worker's intents and contacts, so
  two campaigns capped at one email never send a profile two;
- not run a unit of another kind (an edit, an approval) beside them: those
  still run alone.

Nothing sleeps: threads are joined with a timeout, and a worker waiting on a
lock is seen in ``pg_locks``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

import pendulum
import psycopg
import pytest
from psycopg import sql

import campaignkit as ck
from campaignkit.adapters.postgres import PostgresProfileStore, PostgresStore
from campaignkit.adapters.postgres.connection import LOCK_CLASS, lock_key, name_key
from campaignkit.concurrency import lock, lock_run, shared_units
from campaignkit.testing import ManualClock

T0: Final = pendulum.datetime(2027, 3, 1, 9, tz="UTC")
EMAIL: Final = ck.ChannelType.EMAIL
PEOPLE: Final = 30
BOUND: Final = 30.0
"""Seconds a thread may take before the test calls it stuck."""


class Recording:
    """An email channel that keeps every message it was handed."""

    def __init__(self) -> None:
        self.sent: list[ck.Message] = []

    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        self.sent.extend(messages)
        return [ck.Accepted(f"id-{m.idempotency_key}") for m in messages]


@contextmanager
def worker(dsn: str, schema: str) -> Iterator[tuple[ck.CampaignKit, Recording]]:
    """A kit on ``schema`` with its own store and pool (one worker), and its channel."""
    channel = Recording()
    with ck.CampaignKit.postgres(
        dsn,
        clock=ManualClock(T0),
        schema=schema,
        channels={EMAIL: channel},
        delivery=ck.DeliverySettings(batch_size=10),
    ) as kit:
        yield kit, channel


def seed(
    kit: ck.CampaignKit, names: Sequence[str], *, cap: bool = False, jinja: bool = False
) -> list[str]:
    """``PEOPLE`` consenting profiles and one activated email campaign per name; their ids.

    With ``jinja`` the subjects are Jinja templates (a batch is then decided
    outside its intents' unit, unless a frequency cap applies).
    """
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    admin = kit.as_user("ada")
    if cap:
        kit.rules.add_frequency_cap(EMAIL, ck.FrequencyCap(max=1, per=pendulum.duration(days=7)))
    surface = admin.create_surface(
        name="News", channel=EMAIL, settings=ck.EmailSettings(sender="news@example.com")
    )
    assert isinstance(kit.profiles, PostgresProfileStore)
    kit.profiles.upsert_many(
        [
            ck.Profile(
                id=f"p{i:03d}",
                identities={"email": f"p{i:03d}@example.com"},
                consents={EMAIL: True},
            )
            for i in range(PEOPLE)
        ]
    )
    kit.audiences.define("everyone", [f"p{i:03d}" for i in range(PEOPLE)])
    ids = []
    for name in names:
        campaign = admin.create_campaign(
            name=name,
            audience="everyone",
            namespace="email",
            actions=[
                ck.Action(
                    surface.id,
                    ck.EmailContent(
                        subject=f"{{% if true %}}{name}{{% endif %}}" if jinja else name,
                        html="<p>Hi</p>",
                    ),
                )
            ],
        )
        admin.activate(campaign.id)
        ids.append(campaign.id)
    return ids


def the_run(kit: ck.CampaignKit, campaign_id: str) -> ck.Run:
    with kit.store.unit_of_work() as uow:
        (run,) = uow.runs.for_campaign(campaign_id)
    return run


class Gate:
    """Replace one method of a worker's repository by one that stops, once, until opened."""

    def __init__(self, repository: object, name: str) -> None:
        self.inside = threading.Event()
        self.open = threading.Event()
        original: Callable[..., Any] = getattr(repository, name)

        def stopping(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            if not self.inside.is_set():
                self.inside.set()
                assert self.open.wait(BOUND), "the gate was never opened"
            return result

        setattr(repository, name, stopping)


def in_thread(target: Callable[[], object]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread


def waiting_on_advisory_lock(dsn: str) -> bool:
    """Whether some backend waits for an advisory lock, seen within ``BOUND`` seconds."""
    pause = threading.Event()
    deadline = time.monotonic() + BOUND
    with psycopg.connect(dsn, autocommit=True) as connection:
        while time.monotonic() < deadline:
            row = connection.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            ).fetchone()
            if row is not None and row[0] > 0:
                return True
            pause.wait(0.005)
    return False


def store_of(kit: ck.CampaignKit) -> PostgresStore:
    assert isinstance(kit.store, PostgresStore)
    return kit.store


# ---------------------------------------------------------------- store level


def test_a_shared_unit_holds_the_store_key_shared_and_its_names_exclusively(
    postgres_dsn: str, postgres_schema: str
) -> None:
    key = (LOCK_CLASS, lock_key(postgres_schema))
    with (
        PostgresStore(postgres_dsn, schema=postgres_schema) as store,
        psycopg.connect(postgres_dsn, autocommit=True) as probe,
    ):

        def free(mode: str, *args: int) -> bool:
            with probe.transaction():
                row = probe.execute(f"SELECT pg_try_advisory_xact_lock{mode}(%s, %s)", args)
                found = row.fetchone()
            assert found is not None
            return bool(found[0])

        def name_free(name: str) -> bool:
            with probe.transaction():
                found = probe.execute(
                    "SELECT pg_try_advisory_xact_lock(%s)", (name_key(postgres_schema, name),)
                ).fetchone()
            assert found is not None
            return bool(found[0])

        with shared_units(), store.unit_of_work() as uow:
            assert free("", *key)  # nothing is taken before the unit's first statement
            assert uow.runs.for_campaign("c1") == []  # BEGIN and the key go with it
            assert free("_shared", *key)  # another shared unit may begin
            assert not free("", *key)  # a unit that runs alone may not
            lock(uow, "caps")
            assert not name_free("caps")
            assert name_free("campaign:c1")
        assert name_free("caps")  # released with the unit
        with store.unit_of_work() as uow:  # a unit of any other kind runs alone
            assert uow.runs.for_campaign("c1") == []
            assert not free("_shared", *key)
            lock(uow, "caps")  # a no-op: nothing can run beside it anyway
            assert lock_run(uow, "no-such-run", wait=False)
        assert name_free("caps")


def test_a_run_row_held_by_another_unit_is_skipped_not_waited_for(
    postgres_dsn: str, postgres_schema: str
) -> None:
    with worker(postgres_dsn, postgres_schema) as (kit, _):
        (campaign_id,) = seed(kit, ["One"])
        kit.tick()  # the campaign's run is created (and delivered: its row is still there)
        run = the_run(kit, campaign_id)
    with (
        PostgresStore(postgres_dsn, schema=postgres_schema) as store,
        psycopg.connect(postgres_dsn) as holder,  # another worker's unit, holding the row
    ):
        holder.execute(
            sql.SQL("SELECT 1 FROM {}.runs WHERE id = %s FOR UPDATE").format(
                sql.Identifier(postgres_schema)
            ),
            (run.id,),
        )
        with shared_units(), store.unit_of_work() as uow:
            assert not lock_run(uow, run.id, wait=False)  # at once: SKIP LOCKED
            assert lock_run(uow, "no-such-run", wait=False)  # missing: the read says so
            with pytest.raises(ck.NotFound):
                uow.runs.get("no-such-run")
        holder.rollback()
        with shared_units(), store.unit_of_work() as uow:
            assert lock_run(uow, run.id, wait=False)


# ---------------------------------------------------------------- kit level


def test_two_workers_deliver_two_runs_at_once(postgres_dsn: str, postgres_schema: str) -> None:
    with (
        worker(postgres_dsn, postgres_schema) as (first, first_sent),
        worker(postgres_dsn, postgres_schema) as (second, second_sent),
    ):
        one, two = seed(first, ["One", "Two"])
        with first.store.unit_of_work() as uow:
            gate = Gate(uow.ledger, "recorded")  # read inside every batch's unit
        held = in_thread(first.tick)
        assert gate.inside.wait(BOUND)
        # the first worker is inside a unit of its run; the second delivers the other run
        # whole meanwhile, skipping the first's
        other = in_thread(second.tick)
        other.join(BOUND)
        stuck = other.is_alive()
        gate.open.set()
        held.join(BOUND)
        assert not stuck, "the second worker waited for the first worker's unit"
        assert not held.is_alive()
        first_ids = {m.campaign_id for m in first_sent.sent}
        second_ids = {m.campaign_id for m in second_sent.sent}
        assert len(first_ids) == 1
        assert second_ids == {one, two} - first_ids
        assert len(first_sent.sent) == len(second_sent.sent) == PEOPLE
        for campaign_id in (one, two):
            assert the_run(first, campaign_id).status is ck.RunStatus.SUCCEEDED


@pytest.mark.parametrize("jinja", [False, True], ids=["substitution", "jinja"])
def test_a_frequency_cap_holds_across_workers_deciding_at_once(
    postgres_dsn: str, postgres_schema: str, jinja: bool
) -> None:
    with (
        worker(postgres_dsn, postgres_schema) as (first, first_sent),
        worker(postgres_dsn, postgres_schema) as (second, second_sent),
    ):
        one, two = seed(first, ["One", "Two"], cap=True, jinja=jinja)
        with first.store.unit_of_work() as uow:
            # inside the batch's unit, after the caps were read and before it commits
            gate = Gate(uow.contacts, "record")
        held = in_thread(first.tick)
        assert gate.inside.wait(BOUND)
        other = in_thread(second.tick)
        waited = waiting_on_advisory_lock(postgres_dsn)  # the second waits to read the caps
        gate.open.set()
        held.join(BOUND)
        other.join(BOUND)
        assert not held.is_alive()
        assert not other.is_alive()
        assert waited
        sent = first_sent.sent + second_sent.sent
        by_profile: dict[str, int] = {}
        for message in sent:
            by_profile[message.profile_id] = by_profile.get(message.profile_id, 0) + 1
        assert by_profile == {f"p{i:03d}": 1 for i in range(PEOPLE)}  # capped at one each
        for campaign_id in (one, two):
            assert the_run(first, campaign_id).status is ck.RunStatus.SUCCEEDED


def test_a_unit_of_another_kind_still_waits_for_delivery_units(
    postgres_dsn: str, postgres_schema: str
) -> None:
    with (
        worker(postgres_dsn, postgres_schema) as (first, _),
        worker(postgres_dsn, postgres_schema) as (second, _),
    ):
        (campaign_id,) = seed(first, ["One"])
        with first.store.unit_of_work() as uow:
            gate = Gate(uow.ledger, "recorded")
        held = in_thread(first.tick)
        assert gate.inside.wait(BOUND)
        copied = threading.Event()

        def duplicate() -> None:
            second.as_user("ada").duplicate(campaign_id)
            copied.set()

        editing = in_thread(duplicate)
        waited = waiting_on_advisory_lock(postgres_dsn)
        done_before = copied.is_set()
        gate.open.set()
        held.join(BOUND)
        editing.join(BOUND)
        assert waited
        assert not done_before
        assert copied.is_set()


def test_when_the_engine_is_next_due_is_read_beside_another_workers_delivery_unit(
    postgres_dsn: str, postgres_schema: str
) -> None:
    # an idle worker ticks every few ms: a unit alone at the end of each tick (when is
    # the engine next due) would wait for every delivery unit in flight and hold the
    # next ones up (seen in bench_scale as waits on the store's key)
    with (
        worker(postgres_dsn, postgres_schema) as (first, _),
        worker(postgres_dsn, postgres_schema) as (second, _),
    ):
        seed(first, ["One"])
        with first.store.unit_of_work() as uow:
            gate = Gate(uow.ledger, "recorded")
        held = in_thread(first.tick)
        assert gate.inside.wait(BOUND)
        read: list[pendulum.DateTime | None] = []
        reading = in_thread(lambda: read.append(second.engine.next_due_at()))
        reading.join(BOUND)
        done_before = not reading.is_alive()
        gate.open.set()
        held.join(BOUND)
        assert done_before
        assert read == [T0 + ck.DeliverySettings().lease]  # the run, when its lease lapses
