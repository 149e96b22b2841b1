"""Store contract: runs and the delivery ledger."""

from __future__ import annotations

import contextlib

import attrs
import pendulum
import pytest

from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import (
    ActionCounts,
    ExclusionReason,
    LedgerEntry,
    LedgerState,
    RunKind,
    RunStatus,
)
from campaignkit.errors import ConflictError, NotFound
from campaignkit.ports import (
    Store,
)
from campaignkit.testing.contracts._support import (
    _Boom,
    _by_key,
    _due,
    _entries,
    _entry,
    _full_run,
    _profiles,
    _queued,
    _run,
    _scheduled_run,
    make_message,
)
from campaignkit.testing.factories import EPOCH


class RunStoreContract:
    """Store contract checks for runs and the delivery ledger.

    Provide a ``store`` fixture returning a new, empty store.
    """

    # ------------------------------------------------------------ runs

    def test_runs_round_trip_at_revision_1_and_ids_are_unique(self, store: Store) -> None:
        """A new run is stored at revision 1 and read back equal, every field included."""
        run = _full_run()
        with store.unit_of_work() as uow:
            added = uow.runs.add(run)
        assert added == attrs.evolve(run, revision=1)
        with store.unit_of_work() as uow:
            assert uow.runs.get(run.id) == added
            with pytest.raises(NotFound):
                uow.runs.get("missing")
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.runs.add(_run(run.id))
        with store.unit_of_work() as uow:
            assert uow.runs.get(run.id) == added

    def test_run_save_bumps_the_revision_and_refuses_stale_writes(self, store: Store) -> None:
        """Optimistic concurrency on runs: the second writer of a revision loses."""
        with store.unit_of_work() as uow:
            loaded = uow.runs.add(_run("r1"))
        with store.unit_of_work() as uow:
            first = uow.runs.save(attrs.evolve(loaded, status=RunStatus.RUNNING, position=10))
        assert (first.revision, first.status, first.position) == (2, RunStatus.RUNNING, 10)
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.runs.save(attrs.evolve(loaded, status=RunStatus.STOPPED))
        with store.unit_of_work() as uow:
            assert uow.runs.get("r1") == first
            second = uow.runs.save(attrs.evolve(first, streamed=True))
            assert uow.runs.get("r1") == second
        assert second.revision == 3
        with pytest.raises((ConflictError, NotFound)), store.unit_of_work() as uow:
            uow.runs.save(_run("never-added"))

    def test_runs_of_a_campaign_are_oldest_first(self, store: Store) -> None:
        """``for_campaign`` lists one campaign's runs by creation, with their latest state."""
        with store.unit_of_work() as uow:
            uow.runs.add(_run("r_b", created_at=EPOCH.add(hours=2)))
            uow.runs.add(_run("r_c", created_at=EPOCH))
            uow.runs.add(_run("other", campaign_id="cmp_2", created_at=EPOCH.add(hours=1)))
            a = uow.runs.add(_run("r_a", created_at=EPOCH.add(hours=1)))
        with store.unit_of_work() as uow:
            saved = uow.runs.save(attrs.evolve(a, status=RunStatus.SUCCEEDED))
        with store.unit_of_work() as uow:
            runs = list(uow.runs.for_campaign("cmp_1"))
            assert [r.id for r in runs] == ["r_c", "r_a", "r_b"]
            assert runs[1] == saved
            assert [r.id for r in uow.runs.for_campaign("cmp_2")] == ["other"]
            assert list(uow.runs.for_campaign("missing")) == []

    def test_runs_due_in_due_at_then_id_order(self, store: Store) -> None:
        """Due runs come by (due_at, id), inclusive of ``until``, limited; zones do not matter."""
        t, hour = EPOCH, EPOCH.add(hours=1)
        paris = pendulum.datetime(2026, 1, 1, 2, tz="Europe/Paris")  # 01:00 UTC
        with store.unit_of_work() as uow:
            uow.runs.add(_run("b", due_at=hour))
            uow.runs.add(_run("a", due_at=paris))
            uow.runs.add(_run("c", due_at=t))
            uow.runs.add(_run("later", due_at=t.add(days=1)))
            uow.runs.add(_run("never"))
        with store.unit_of_work() as uow:
            assert list(uow.runs.due(hour, 10)) == [(t, "c"), (hour, "a"), (hour, "b")]
            assert list(uow.runs.due(hour, 2)) == [(t, "c"), (hour, "a")]
            assert list(uow.runs.due(t.subtract(microseconds=1), 10)) == []
            assert uow.runs.next_due_at() == t

    def test_run_due_index_follows_saves(self, store: Store) -> None:
        """Saving a run with another due_at (or none) moves it in the due index."""
        t = EPOCH
        with store.unit_of_work() as uow:
            c = uow.runs.add(_run("c", due_at=t))
            d = uow.runs.add(_run("d", due_at=t.add(hours=1)))
        with store.unit_of_work() as uow:
            assert uow.runs.next_due_at() == t
        with store.unit_of_work() as uow:
            c = uow.runs.save(attrs.evolve(c, due_at=t.add(hours=2)))
            uow.runs.save(attrs.evolve(d, due_at=None, status=RunStatus.SUCCEEDED))
        with store.unit_of_work() as uow:
            assert list(uow.runs.due(t.add(years=1), 10)) == [(t.add(hours=2), "c")]
            assert uow.runs.next_due_at() == t.add(hours=2)
            uow.runs.save(attrs.evolve(c, due_at=None))
        with store.unit_of_work() as uow:
            assert list(uow.runs.due(t.add(years=1), 10)) == []
            assert uow.runs.next_due_at() is None

    def test_runs_keep_their_scheduling_fields(self, store: Store) -> None:
        """Nominal instant, wave fill, rate-limit progress and the new counters are stored."""
        run = _scheduled_run()
        with store.unit_of_work() as uow:
            added = uow.runs.add(run)
        assert added == attrs.evolve(run, revision=1)
        with store.unit_of_work() as uow:
            assert uow.runs.get(run.id) == added
        second_wave = attrs.evolve(
            added,
            wave_filled=(4, 3, 2),
            rate_sent={"act_email": 130, "act_sms": 5},
            rate_origin={
                "act_email": added.rate_origin["act_email"],
                "act_sms": EPOCH.add(hours=1),
            },
            counts={"act_email": ActionCounts(targeted=9, sent=9, late=4)},
        )
        with store.unit_of_work() as uow:
            saved = uow.runs.save(second_wave)
        with store.unit_of_work() as uow:
            assert uow.runs.get(run.id) == saved == attrs.evolve(second_wave, revision=2)

    def test_a_run_keeps_the_audience_it_streams(self, store: Store) -> None:
        """A run's own audience (an audience execution's) survives add, save, scan and restore."""
        run = attrs.evolve(_run("run_aud"), kind=RunKind.AUDIENCE_EXECUTION, audience="vips")
        with store.unit_of_work() as uow:
            added = uow.runs.add(run)
            saved = uow.runs.save(attrs.evolve(added, status=RunStatus.RUNNING))
        with store.unit_of_work() as uow:
            assert (uow.runs.get("run_aud").audience, saved.audience) == ("vips", "vips")
            [[scanned]] = list(uow.runs.scan(10))
            uow.runs.restore(attrs.evolve(scanned, revision=9))
        with store.unit_of_work() as uow:
            assert uow.runs.get("run_aud") == attrs.evolve(saved, revision=9)
            assert uow.runs.for_campaign(run.campaign_id)[0].audience == "vips"

    def test_a_failed_unit_leaves_runs_untouched(self, store: Store) -> None:
        """Run adds and saves of a failed unit are undone, due index included."""
        t = EPOCH
        with store.unit_of_work() as uow:
            kept = uow.runs.add(_run("kept", due_at=t))
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.runs.add(_run("new", due_at=t.subtract(hours=1)))
            uow.runs.save(attrs.evolve(kept, due_at=None, status=RunStatus.FAILED))
            assert uow.runs.next_due_at() == t.subtract(hours=1)
            raise _Boom
        with store.unit_of_work() as uow:
            assert uow.runs.get("kept") == kept
            with pytest.raises(NotFound):
                uow.runs.get("new")
            assert list(uow.runs.due(t.add(days=1), 10)) == [(t, "kept")]
            assert uow.runs.next_due_at() == t
            assert list(uow.runs.for_campaign("cmp_1")) == [kept]

    # ------------------------------------------------------------ ledger

    def test_ledger_put_inserts_or_replaces_by_key(self, store: Store) -> None:
        """One entry per (run, action, profile): a put with the same key replaces it."""
        e1, e2 = _entry("p1"), _entry("p2")
        sms = attrs.evolve(_entry("p1", action_id="act_sms"), channel=ChannelType.SMS)
        elsewhere = _entry("p1", run_id="run_2")
        with store.unit_of_work() as uow:
            uow.ledger.put([e1, e2, sms, elsewhere])
        sent = attrs.evolve(
            e1, state=LedgerState.SENT, attempts=1, provider_message_id="pm-1", address="a@x.org"
        )
        with store.unit_of_work() as uow:
            uow.ledger.put([sent])
            assert _entries(uow) == _by_key([sent, e2, sms])
        failed = attrs.evolve(e2, state=LedgerState.FAILED, error="first")
        last = attrs.evolve(e2, state=LedgerState.FAILED, error="last")
        with store.unit_of_work() as uow:
            uow.ledger.put([failed, last])  # the same key twice in a batch: the last wins
        with store.unit_of_work() as uow:
            assert _entries(uow) == _by_key([sent, last, sms])
            assert _entries(uow, "run_2") == [elsewhere]
            assert _entries(uow, "missing") == []
            uow.ledger.put([])
            assert _entries(uow) == _by_key([sent, last, sms])

    def test_ledger_entries_round_trip_every_field(self, store: Store) -> None:
        """An entry with a message, an error and instants is read back equal."""
        message = make_message("p1", fields={"subject": "Hi Zoë", "html": "<p>ü</p>"})
        retry = LedgerEntry(
            run_id="run_1",
            action_id="act_email",
            profile_id="p1",
            campaign_id="cmp_1",
            channel=ChannelType.EMAIL,
            state=LedgerState.RETRY,
            attempts=2,
            next_attempt_at=pendulum.datetime(2026, 1, 1, 1, 2, 3, 456789, tz="Asia/Tokyo"),
            address="p1@example.com",
            error="429 too many requests",
            message=message,
        )
        excluded = attrs.evolve(
            _entry("p2", state=LedgerState.EXCLUDED), reason=ExclusionReason.MISSING_ATTRIBUTE
        )
        push = make_message("p3", channel=ChannelType.PUSH, proof=True, transactional=True)
        pending = attrs.evolve(_entry("p3", action_id="act_push"), message=push, attempts=1)
        with store.unit_of_work() as uow:
            uow.ledger.put([retry, excluded, pending])
        with store.unit_of_work() as uow:
            assert _entries(uow) == _by_key([retry, excluded, pending])

    def test_ledger_recorded_names_the_pairs_already_in_the_run(self, store: Store) -> None:
        """``recorded`` answers for the given profiles of one run only, at any size."""
        many = [f"q{i:04d}" for i in range(1200)]
        with store.unit_of_work() as uow:
            uow.ledger.put(
                [
                    _entry("p1"),
                    _entry("p1", action_id="act_sms", state=LedgerState.EXCLUDED),
                    _entry("p2", state=LedgerState.SENT, provider_message_id="pm-2"),
                    _entry("p3", run_id="run_2"),
                ]
            )
            uow.ledger.put([_entry(pid, run_id="run_big") for pid in many])
        with store.unit_of_work() as uow:
            assert uow.ledger.recorded("run_1", ["p1", "p3", "p1", "unknown"]) == {
                ("act_email", "p1"),
                ("act_sms", "p1"),
            }
            assert uow.ledger.recorded("run_1", ["p2"]) == {("act_email", "p2")}
            assert uow.ledger.recorded("run_1", []) == set()
            assert uow.ledger.recorded("missing", ["p1"]) == set()
            assert uow.ledger.recorded("run_big", [*many, "unknown"]) == {
                ("act_email", pid) for pid in many
            }

    def test_open_and_pending_entries_select_by_state_within_the_limit(self, store: Store) -> None:
        """PENDING and RETRY entries are open; PENDING ones are pending; limits hold."""
        t = EPOCH
        with store.unit_of_work() as uow:
            uow.ledger.put(
                [
                    _entry("p0"),
                    _entry("p1", state=LedgerState.RETRY, next_attempt_at=t),
                    _entry("p2", state=LedgerState.SENT, provider_message_id="pm-2"),
                    _entry("p3", state=LedgerState.FAILED),
                    _entry("p4", state=LedgerState.EXCLUDED),
                    _entry("p5", action_id="act_sms"),
                    _entry("p6", state=LedgerState.RETRY, next_attempt_at=t.add(days=1)),
                    _entry("p7", run_id="run_2"),
                ]
            )
        with store.unit_of_work() as uow:
            assert _profiles(uow.ledger.open_entries("run_1", 10)) == {"p0", "p1", "p5", "p6"}
            assert _profiles(uow.ledger.pending("run_1", 10)) == {"p0", "p5"}
            some_open = uow.ledger.open_entries("run_1", 3)
            assert len(some_open) == 3
            assert _profiles(some_open) <= {"p0", "p1", "p5", "p6"}
            some_pending = uow.ledger.pending("run_1", 1)
            assert len(some_pending) == 1
            assert _profiles(some_pending) <= {"p0", "p5"}
            assert list(uow.ledger.open_entries("missing", 10)) == []
            assert list(uow.ledger.pending("run_2", 10)) == [_entry("p7", run_id="run_2")]

    def test_open_entries_drain_in_limited_batches(self, store: Store) -> None:
        """Settling open entries batch by batch reaches each one exactly once (as stop does)."""
        with store.unit_of_work() as uow:
            uow.ledger.put([_entry(f"p{i:02d}") for i in range(7)])
            uow.ledger.put(
                [
                    _entry(f"r{i:02d}", state=LedgerState.RETRY, next_attempt_at=EPOCH)
                    for i in range(4)
                ]
            )
        seen: list[str] = []
        for _ in range(20):
            with store.unit_of_work() as uow:
                batch = list(uow.ledger.open_entries("run_1", 3))
                if not batch:
                    break
                assert len(batch) <= 3
                seen.extend(e.profile_id for e in batch)
                stopped = [
                    attrs.evolve(
                        e,
                        state=LedgerState.EXCLUDED,
                        reason=ExclusionReason.STOPPED,
                        next_attempt_at=None,
                    )
                    for e in batch
                ]
                uow.ledger.put(stopped)
        assert sorted(seen) == [f"p{i:02d}" for i in range(7)] + [f"r{i:02d}" for i in range(4)]
        with store.unit_of_work() as uow:
            assert uow.ledger.next_due_at("run_1") is None
            assert list(uow.ledger.pending("run_1", 10)) == []

    def test_due_entries_are_earliest_first_inclusive_and_limited(self, store: Store) -> None:
        """RETRY entries due by ``until`` come earliest first; other states never do."""
        t = EPOCH
        retry = LedgerState.RETRY
        with store.unit_of_work() as uow:
            uow.ledger.put(
                [
                    _entry("p1", state=retry, next_attempt_at=t.add(minutes=2)),
                    _entry("p2", state=retry, next_attempt_at=t),
                    _entry("p3", state=retry, next_attempt_at=t.add(minutes=1)),
                    _entry("p4", state=retry, next_attempt_at=t.add(hours=1)),
                    _entry("p5", next_attempt_at=t.subtract(hours=1)),
                    _entry(
                        "p6",
                        state=LedgerState.SENT,
                        next_attempt_at=t.subtract(hours=2),
                        provider_message_id="pm-6",
                    ),
                    _entry("p7", run_id="run_2", state=retry, next_attempt_at=t.subtract(days=1)),
                ]
            )
        with store.unit_of_work() as uow:
            until = t.add(minutes=2)
            due = list(uow.ledger.due("run_1", until, 10))
            assert [e.profile_id for e in due] == ["p2", "p3", "p1"]
            assert [e.profile_id for e in uow.ledger.due("run_1", until, 2)] == ["p2", "p3"]
            assert list(uow.ledger.due("run_1", t.subtract(microseconds=1), 10)) == []
            tokyo = t.add(minutes=1).in_timezone("Asia/Tokyo")
            assert [e.profile_id for e in uow.ledger.due("run_1", tokyo, 10)] == [
                "p2",
                "p3",
            ]
            assert list(uow.ledger.due("missing", until, 10)) == []

    def test_next_due_at_follows_waiting_entries(self, store: Store) -> None:
        """``next_due_at`` is the earliest waiting entry of a run and moves as entries settle."""
        t = EPOCH
        retry = LedgerState.RETRY
        first = _entry("p1", state=retry, next_attempt_at=t)
        second = _entry("p2", state=retry, next_attempt_at=t.add(minutes=5))
        with store.unit_of_work() as uow:
            assert uow.ledger.next_due_at("run_1") is None
            uow.ledger.put(
                [
                    first,
                    second,
                    _entry("p3", next_attempt_at=t.subtract(hours=1)),
                    _entry("p4", state=LedgerState.FAILED, next_attempt_at=t.subtract(hours=2)),
                    _entry("p5", run_id="run_2", state=retry, next_attempt_at=t.subtract(days=1)),
                ]
            )
        with store.unit_of_work() as uow:
            assert uow.ledger.next_due_at("run_1") == t
            assert uow.ledger.next_due_at("run_2") == t.subtract(days=1)
            assert uow.ledger.next_due_at("missing") is None
            uow.ledger.put([attrs.evolve(first, state=LedgerState.SENT, next_attempt_at=None)])
        with store.unit_of_work() as uow:
            assert uow.ledger.next_due_at("run_1") == t.add(minutes=5)
            uow.ledger.put([attrs.evolve(second, next_attempt_at=t.add(minutes=10))])
        with store.unit_of_work() as uow:
            assert uow.ledger.next_due_at("run_1") == t.add(minutes=10)
            uow.ledger.put([attrs.evolve(second, state=LedgerState.FAILED, error="gave up")])
        with store.unit_of_work() as uow:
            assert uow.ledger.next_due_at("run_1") is None

    def test_queued_entries_round_trip_with_their_due_time_zone_and_slot(
        self, store: Store
    ) -> None:
        """A QUEUED entry keeps its own due time, the recipient's zone and its rate slot."""
        t = EPOCH
        new_york = pendulum.datetime(2026, 1, 1, 9, tz="America/New_York")
        entries = [
            attrs.evolve(
                _queued("p1", t.add(hours=8), zone="+05:30"),
                slot=t.add(hours=8, microseconds=5000),
                message=make_message("p1"),
            ),
            _queued("p2", new_york, zone="America/New_York"),
            attrs.evolve(_queued("p3", t.add(minutes=30), zone=None), due_at=t, attempts=1),
        ]
        with store.unit_of_work() as uow:
            uow.ledger.put(entries)
        with store.unit_of_work() as uow:
            assert _entries(uow) == _by_key(entries)

    def test_queued_entries_are_due_only_once_their_time_comes(self, store: Store) -> None:
        """QUEUED entries wait like RETRY ones: due at their instant (inclusive), earliest first."""
        t = EPOCH
        with store.unit_of_work() as uow:
            uow.ledger.put(
                [
                    _queued("p1", t.add(hours=2)),
                    _queued("p2", t),
                    _entry("p3", state=LedgerState.RETRY, next_attempt_at=t.add(hours=1)),
                    _queued("p4", t.add(hours=1, microseconds=1)),
                    _queued("p5", t.add(days=1)),
                    _queued("p6", t.subtract(days=1), run_id="run_2"),
                    _entry("p7", next_attempt_at=t.subtract(days=1)),
                ]
            )
        with store.unit_of_work() as uow:
            assert _due(uow, t.subtract(microseconds=1)) == []
            assert _due(uow, t) == ["p2"]
            assert _due(uow, t.add(hours=1)) == ["p2", "p3"]
            assert _due(uow, t.add(hours=1, microseconds=1)) == ["p2", "p3", "p4"]
            assert _due(uow, t.add(hours=2)) == ["p2", "p3", "p4", "p1"]
            assert _due(uow, t.add(hours=2), 2) == ["p2", "p3"]
            assert _due(uow, t.add(years=1)) == ["p2", "p3", "p4", "p1", "p5"]
            assert _due(uow, t.add(hours=1).in_timezone("Asia/Tokyo")) == ["p2", "p3"]
            assert [e.profile_id for e in uow.ledger.due("run_2", t, 10)] == ["p6"]

    def test_next_due_at_is_the_earliest_queued_or_retry_entry(self, store: Store) -> None:
        """Queued and retrying entries share one due queue; releasing one moves it on."""
        t = EPOCH
        first = _queued("p1", t.add(minutes=10))
        retry = _entry("p2", state=LedgerState.RETRY, next_attempt_at=t.add(minutes=20))
        later = _queued("p3", t.add(hours=1))
        with store.unit_of_work() as uow:
            uow.ledger.put([later, retry, first, _entry("p4")])
        with store.unit_of_work() as uow:
            assert uow.ledger.next_due_at("run_1") == t.add(minutes=10)
            uow.ledger.put([attrs.evolve(first, state=LedgerState.PENDING, next_attempt_at=None)])
        with store.unit_of_work() as uow:
            assert uow.ledger.next_due_at("run_1") == t.add(minutes=20)
            assert _due(uow, t.add(minutes=10)) == []
            # quiet hours push the queued one back, before the retry
            uow.ledger.put([attrs.evolve(later, next_attempt_at=t.add(minutes=15))])
        with store.unit_of_work() as uow:
            assert uow.ledger.next_due_at("run_1") == t.add(minutes=15)
            assert _due(uow, t.add(minutes=20)) == ["p3", "p2"]
            uow.ledger.put(
                [
                    attrs.evolve(later, state=LedgerState.SENT, next_attempt_at=None),
                    attrs.evolve(retry, state=LedgerState.FAILED, next_attempt_at=None),
                ]
            )
        with store.unit_of_work() as uow:
            assert uow.ledger.next_due_at("run_1") is None
            assert _due(uow, t.add(years=1)) == []

    def test_open_entries_include_queued_ones_and_pending_does_not(self, store: Store) -> None:
        """QUEUED entries are open (a stop settles them) but not pending (not handed over)."""
        t = EPOCH
        with store.unit_of_work() as uow:
            uow.ledger.put(
                [
                    _entry("p0"),
                    _queued("p1", t.add(hours=1)),
                    _entry("p2", state=LedgerState.RETRY, next_attempt_at=t),
                    _entry("p3", state=LedgerState.SENT, provider_message_id="pm-3"),
                    attrs.evolve(
                        _entry("p4", state=LedgerState.EXCLUDED),
                        reason=ExclusionReason.QUIET_HOURS,
                    ),
                    _queued("p5", t, run_id="run_2"),
                ]
            )
        with store.unit_of_work() as uow:
            assert _profiles(uow.ledger.open_entries("run_1", 10)) == {"p0", "p1", "p2"}
            assert _profiles(uow.ledger.pending("run_1", 10)) == {"p0"}
            assert list(uow.ledger.open_entries("run_2", 10)) == [_queued("p5", t, run_id="run_2")]
            assert list(uow.ledger.pending("run_2", 10)) == []
            stopped = [
                attrs.evolve(
                    e,
                    state=LedgerState.EXCLUDED,
                    reason=ExclusionReason.STOPPED,
                    next_attempt_at=None,
                )
                for e in uow.ledger.open_entries("run_1", 10)
            ]
            uow.ledger.put(stopped)
        with store.unit_of_work() as uow:
            assert list(uow.ledger.open_entries("run_1", 10)) == []
            assert uow.ledger.next_due_at("run_1") is None
            assert uow.ledger.next_due_at("run_2") == t

    def test_by_provider_id_finds_the_sent_entry_and_follows_changes(self, store: Store) -> None:
        """A provider id finds its entry; when the entry's id changes, the old one is gone."""
        sent = _entry("p1", state=LedgerState.SENT, provider_message_id="pm-1", attempts=1)
        other = _entry("p9", run_id="run_2", state=LedgerState.SENT, provider_message_id="pm-9")
        with store.unit_of_work() as uow:
            uow.ledger.put([sent, _entry("p2"), other])
        with store.unit_of_work() as uow:
            assert uow.ledger.by_provider_id("pm-1") == sent
            assert uow.ledger.by_provider_id("pm-9") == other
            assert uow.ledger.by_provider_id("missing") is None
        moved = attrs.evolve(sent, provider_message_id="pm-2", attempts=2)
        with store.unit_of_work() as uow:
            uow.ledger.put([moved])
        with store.unit_of_work() as uow:
            assert uow.ledger.by_provider_id("pm-1") is None
            assert uow.ledger.by_provider_id("pm-2") == moved
        bounced = attrs.evolve(moved, error="mailbox full")
        with store.unit_of_work() as uow:
            uow.ledger.put([bounced])
            assert uow.ledger.by_provider_id("pm-2") == bounced
        with store.unit_of_work() as uow:
            assert uow.ledger.by_provider_id("pm-2") == bounced
            assert uow.ledger.by_provider_id("pm-9") == other
            # the id is free again once no entry holds it
            uow.ledger.put([_entry("p3", state=LedgerState.SENT, provider_message_id="pm-1")])
            assert uow.ledger.by_provider_id("pm-1") == _entry(
                "p3", state=LedgerState.SENT, provider_message_id="pm-1"
            )

    def test_a_taken_provider_id_never_costs_the_entry_holding_it(self, store: Store) -> None:
        """Another entry claiming a provider id never removes the entry that holds it.

        Losing a ledger entry would let a resumed run send that message again.
        """
        holder = _entry("p1", state=LedgerState.SENT, provider_message_id="pm-1")
        with store.unit_of_work() as uow:
            uow.ledger.put([holder, _entry("p2")])
        claimant = _entry("p2", state=LedgerState.SENT, provider_message_id="pm-1")
        with contextlib.suppress(ConflictError), store.unit_of_work() as uow:
            uow.ledger.put([claimant])
        with store.unit_of_work() as uow:
            assert holder in _entries(uow)
            assert uow.ledger.recorded("run_1", ["p1", "p2"]) == {
                ("act_email", "p1"),
                ("act_email", "p2"),
            }

    def test_a_taken_provider_id_is_refused(self, store: Store) -> None:
        """A provider id names one entry: a put giving it to another is a ConflictError."""
        holder = _entry("p1", state=LedgerState.SENT, provider_message_id="pm-1")
        waiting = _entry("p2")
        with store.unit_of_work() as uow:
            uow.ledger.put([holder, waiting])
        claimant = attrs.evolve(waiting, state=LedgerState.SENT, provider_message_id="pm-1")
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.ledger.put([claimant])
        with store.unit_of_work() as uow:
            assert _entries(uow) == [holder, waiting]
            assert uow.ledger.by_provider_id("pm-1") == holder

    def test_a_failed_unit_leaves_the_ledger_untouched(self, store: Store) -> None:
        """Every ledger write of a failed unit is undone, indexes included."""
        t = EPOCH
        before = [
            _entry("p1", state=LedgerState.RETRY, next_attempt_at=t),
            _entry("p2", state=LedgerState.SENT, provider_message_id="pm-1"),
            _entry("p3"),
        ]
        with store.unit_of_work() as uow:
            uow.ledger.put(before)
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.ledger.put(
                [
                    attrs.evolve(
                        before[0],
                        state=LedgerState.SENT,
                        provider_message_id="pm-9",
                        next_attempt_at=None,
                    ),
                    attrs.evolve(before[1], provider_message_id="pm-2"),
                    attrs.evolve(before[2], state=LedgerState.FAILED, error="bad address"),
                    _entry("p4", state=LedgerState.RETRY, next_attempt_at=t.subtract(hours=1)),
                    _entry("p5", run_id="run_2"),
                ]
            )
            assert uow.ledger.by_provider_id("pm-9") is not None  # a unit sees its own writes
            assert uow.ledger.next_due_at("run_1") == t.subtract(hours=1)
            raise _Boom
        with store.unit_of_work() as uow:
            assert _entries(uow) == before
            assert _entries(uow, "run_2") == []
            assert uow.ledger.by_provider_id("pm-1") == before[1]
            assert uow.ledger.by_provider_id("pm-2") is None
            assert uow.ledger.by_provider_id("pm-9") is None
            assert uow.ledger.next_due_at("run_1") == t
            assert list(uow.ledger.pending("run_1", 10)) == [before[2]]
            assert uow.ledger.recorded("run_1", ["p1", "p4"]) == {("act_email", "p1")}
