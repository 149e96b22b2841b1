"""Store contract: feedback, suppressions, audiences, contacts, rules and executions."""

from __future__ import annotations

import attrs
import pendulum
import pytest

from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import (
    FeedbackEvent,
)
from campaignkit.domain.rules import BusinessRules, FrequencyCap, RuleBook
from campaignkit.errors import ConflictError, NotFound
from campaignkit.ports import (
    Store,
)
from campaignkit.testing.contracts._support import (
    _Boom,
    _due,
    _entries,
    _execution,
    _feedback,
    _nonzero,
    _queued,
    _rule_book,
)
from campaignkit.testing.factories import EPOCH


class RecordStoreContract:
    """Store contract checks for feedback, suppressions, audiences, contacts, rules and executions.

    Provide a ``store`` fixture returning a new, empty store.
    """

    # ------------------------------------------------------------ feedback

    def test_feedback_is_kept_per_campaign_oldest_first(self, store: Store) -> None:
        """Feedback records are listed per campaign in the order they were added."""
        t = EPOCH
        records = [
            _feedback(t, FeedbackEvent.DELIVERED),
            _feedback(t.add(minutes=1), FeedbackEvent.OPENED, campaign_id="cmp_2"),
            _feedback(t.add(minutes=2), FeedbackEvent.CLICKED),
        ]
        again = _feedback(t.add(minutes=3), FeedbackEvent.CLICKED)  # the same event twice
        with store.unit_of_work() as uow:
            for record in records:
                uow.feedback.add(record)
        with store.unit_of_work() as uow:
            uow.feedback.add(again)
        with store.unit_of_work() as uow:
            assert list(uow.feedback.for_campaign("cmp_1")) == [records[0], records[2], again]
            assert list(uow.feedback.for_campaign("cmp_2")) == [records[1]]
            assert list(uow.feedback.for_campaign("missing")) == []

    # ------------------------------------------------------------ suppressions

    def test_suppressions_are_idempotent_and_per_channel(self, store: Store) -> None:
        """An address is suppressed on one channel; adding it twice is harmless."""
        with store.unit_of_work() as uow:
            uow.suppressions.add(ChannelType.EMAIL, "ann@example.com")
            uow.suppressions.add(ChannelType.EMAIL, "ann@example.com")
            uow.suppressions.add(ChannelType.SMS, "+33612345678")
        with store.unit_of_work() as uow:
            uow.suppressions.add(ChannelType.EMAIL, "ann@example.com")
        with store.unit_of_work() as uow:
            email = ["ann@example.com", "bob@example.com", "ann@example.com"]
            assert uow.suppressions.suppressed(ChannelType.EMAIL, email) == {"ann@example.com"}
            assert uow.suppressions.suppressed(ChannelType.SMS, email) == set()
            assert uow.suppressions.suppressed(ChannelType.SMS, ["+33612345678"]) == {
                "+33612345678"
            }
            assert uow.suppressions.suppressed(ChannelType.PUSH, []) == set()

    def test_suppressed_answers_for_many_addresses(self, store: Store) -> None:
        """``suppressed`` works for batches larger than any internal chunk."""
        suppressed = {f"s{i}@example.com" for i in range(700)}
        with store.unit_of_work() as uow:
            for address in sorted(suppressed):
                uow.suppressions.add(ChannelType.EMAIL, address)
        asked = [f"s{i}@example.com" for i in range(1300)]
        with store.unit_of_work() as uow:
            assert uow.suppressions.suppressed(ChannelType.EMAIL, asked) == suppressed

    # ------------------------------------------------------------ static audiences

    def test_static_audiences_keep_members_in_definition_order(self, store: Store) -> None:
        """Members page by offset and limit in definition order, duplicates kept."""
        with store.unit_of_work() as uow:
            uow.audiences.define("vip", ["p3", "p1", "p2", "p1"])
            uow.audiences.define("empty", [])
            uow.audiences.define("other", ["p9"])
        with store.unit_of_work() as uow:
            assert uow.audiences.count("vip") == 4
            assert list(uow.audiences.members("vip", 0, 10)) == ["p3", "p1", "p2", "p1"]
            assert list(uow.audiences.members("vip", 1, 2)) == ["p1", "p2"]
            assert list(uow.audiences.members("vip", 3, 10)) == ["p1"]
            assert list(uow.audiences.members("vip", 4, 10)) == []
            assert list(uow.audiences.members("vip", 10, 5)) == []
            assert uow.audiences.count("empty") == 0
            assert list(uow.audiences.members("empty", 0, 10)) == []
            assert uow.audiences.count("missing") is None
            assert list(uow.audiences.members("missing", 0, 10)) == []
            assert list(uow.audiences.members("other", 0, 10)) == ["p9"]

    def test_a_redefined_static_audience_replaces_its_members(self, store: Store) -> None:
        """Defining a name again replaces the members, shorter or longer."""
        with store.unit_of_work() as uow:
            uow.audiences.define("vip", ["p1", "p2", "p3"])
            uow.audiences.define("other", ["p1"])
        with store.unit_of_work() as uow:
            uow.audiences.define("vip", ["p9"])
        with store.unit_of_work() as uow:
            assert uow.audiences.count("vip") == 1
            assert list(uow.audiences.members("vip", 0, 10)) == ["p9"]
            uow.audiences.define("vip", ["p5", "p6", "p7", "p8"])
            assert list(uow.audiences.members("vip", 0, 10)) == ["p5", "p6", "p7", "p8"]
        with store.unit_of_work() as uow:
            assert uow.audiences.count("vip") == 4
            assert list(uow.audiences.members("vip", 2, 10)) == ["p7", "p8"]
            assert list(uow.audiences.members("other", 0, 10)) == ["p1"]

    def test_a_large_static_audience_pages_completely(self, store: Store) -> None:
        """Paging through a large audience yields every member once, in order."""
        ids = [f"p{i:05d}" for i in range(1234)]
        with store.unit_of_work() as uow:
            uow.audiences.define("big", ids)
        paged: list[str] = []
        with store.unit_of_work() as uow:
            assert uow.audiences.count("big") == len(ids)
            while page := list(uow.audiences.members("big", len(paged), 500)):
                assert len(page) <= 500
                paged.extend(page)
        assert paged == ids

    def test_a_failed_unit_leaves_feedback_suppressions_and_audiences_untouched(
        self, store: Store
    ) -> None:
        """Feedback, suppressions and audience definitions of a failed unit are undone."""
        kept = _feedback(EPOCH, FeedbackEvent.DELIVERED)
        with store.unit_of_work() as uow:
            uow.feedback.add(kept)
            uow.suppressions.add(ChannelType.EMAIL, "kept@example.com")
            uow.audiences.define("vip", ["p1", "p2"])
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.feedback.add(_feedback(EPOCH.add(minutes=1), FeedbackEvent.COMPLAINT))
            uow.suppressions.add(ChannelType.EMAIL, "kept@example.com")
            uow.suppressions.add(ChannelType.EMAIL, "new@example.com")
            uow.audiences.define("vip", ["p9"])
            uow.audiences.define("new", ["p1"])
            raise _Boom
        with store.unit_of_work() as uow:
            assert list(uow.feedback.for_campaign("cmp_1")) == [kept]
            addresses = ["kept@example.com", "new@example.com"]
            assert uow.suppressions.suppressed(ChannelType.EMAIL, addresses) == {"kept@example.com"}
            assert uow.audiences.count("vip") == 2
            assert list(uow.audiences.members("vip", 0, 10)) == ["p1", "p2"]
            assert uow.audiences.count("new") is None

    # ------------------------------------------------------------ contacts

    def test_contacts_are_counted_per_channel_and_profile_from_since_on(self, store: Store) -> None:
        """``counts`` counts contacts at or after ``since`` (inclusive), per profile and channel.

        A profile without contacts may be left out or counted as 0.
        """
        t = EPOCH
        email, sms = ChannelType.EMAIL, ChannelType.SMS
        with store.unit_of_work() as uow:
            uow.contacts.record(
                email, [("p1", t.subtract(microseconds=1)), ("p1", t), ("p2", t.add(days=1))]
            )
            uow.contacts.record(sms, [("p1", t.add(hours=1))])
            uow.contacts.record(email, [])
        with store.unit_of_work() as uow:  # contacts of later units add up
            uow.contacts.record(email, [("p1", t.add(hours=2)), ("p3", t.subtract(days=1))])
        ids = ["p1", "p2", "p3", "p4", "p1"]
        with store.unit_of_work() as uow:
            assert _nonzero(uow.contacts.counts(email, ids, t)) == {"p1": 2, "p2": 1}
            before = t.subtract(microseconds=1)
            assert _nonzero(uow.contacts.counts(email, ids, before)) == {"p1": 3, "p2": 1}
            after = t.add(microseconds=1)
            assert _nonzero(uow.contacts.counts(email, ids, after)) == {"p1": 1, "p2": 1}
            day_before = t.subtract(days=1)
            assert _nonzero(uow.contacts.counts(email, ids, day_before)) == {
                "p1": 3,
                "p2": 1,
                "p3": 1,
            }
            assert _nonzero(uow.contacts.counts(email, ["p2"], t)) == {"p2": 1}
            assert _nonzero(uow.contacts.counts(sms, ids, t)) == {"p1": 1}
            assert _nonzero(uow.contacts.counts(ChannelType.PUSH, ids, day_before)) == {}
            assert _nonzero(uow.contacts.counts(email, [], day_before)) == {}
            tokyo = t.in_timezone("Asia/Tokyo")  # the same instant, read in another zone
            assert _nonzero(uow.contacts.counts(email, ["p1"], tokyo)) == {"p1": 2}

    def test_contact_counts_answer_for_many_profiles(self, store: Store) -> None:
        """``counts`` works for more profiles than any internal chunk."""
        contacted = [f"p{i:04d}" for i in range(1200)]
        with store.unit_of_work() as uow:
            uow.contacts.record(ChannelType.EMAIL, [(pid, EPOCH) for pid in contacted])
            uow.contacts.record(ChannelType.EMAIL, [(pid, EPOCH) for pid in contacted[::100]])
        asked = [*contacted, *(f"q{i:04d}" for i in range(300))]
        with store.unit_of_work() as uow:
            counts = _nonzero(uow.contacts.counts(ChannelType.EMAIL, asked, EPOCH))
        assert counts == {pid: 2 if i % 100 == 0 else 1 for i, pid in enumerate(contacted)}

    def test_a_keyed_contact_can_be_forgotten(self, store: Store) -> None:
        """``forget`` removes the contacts recorded under the given (profile, key) pairs.

        Keys are unique per channel and profile (an idempotency key names both).
        """
        email, sms = ChannelType.EMAIL, ChannelType.SMS
        with store.unit_of_work() as uow:
            uow.contacts.record(email, [("p1", EPOCH), ("p2", EPOCH)], ["k1", "k2"])
            uow.contacts.record(sms, [("p1", EPOCH)], ["k3"])
            uow.contacts.record(email, [("p1", EPOCH)])  # unkeyed: cannot be forgotten
        with store.unit_of_work() as uow:
            uow.contacts.forget(email, [("p1", "k1"), ("p9", "never-recorded")])
            uow.contacts.forget(email, [("p2", "k3")])  # k3 is p1's, on sms: not this one
            uow.contacts.forget(sms, [("p1", "k3")])
            uow.contacts.forget(email, [])
        with store.unit_of_work() as uow:
            assert _nonzero(uow.contacts.counts(email, ["p1", "p2"], EPOCH)) == {"p1": 1, "p2": 1}
            assert _nonzero(uow.contacts.counts(sms, ["p1"], EPOCH)) == {}
            uow.contacts.forget(email, [("p1", "k1")])  # forgetting twice changes nothing
            assert _nonzero(uow.contacts.counts(email, ["p1"], EPOCH)) == {"p1": 1}

    def test_forgetting_contacts_rolls_back_with_the_unit(self, store: Store) -> None:
        """A unit that raises after ``forget`` and ``record`` leaves the contacts as they were."""
        email = ChannelType.EMAIL
        with store.unit_of_work() as uow:
            uow.contacts.record(email, [("p1", EPOCH), ("p1", EPOCH)], ["k1", "k2"])
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.contacts.forget(email, [("p1", "k1")])
            uow.contacts.record(email, [("p2", EPOCH)], ["k3"])
            raise _Boom
        with store.unit_of_work() as uow:
            assert _nonzero(uow.contacts.counts(email, ["p1", "p2"], EPOCH)) == {"p1": 2}
            uow.contacts.forget(email, [("p1", "k1")])  # k1 is still there to forget
            assert _nonzero(uow.contacts.counts(email, ["p1", "p2"], EPOCH)) == {"p1": 1}

    # ------------------------------------------------------------ business rules

    def test_rules_start_empty_and_each_save_bumps_the_revision(self, store: Store) -> None:
        """The rule book is empty at revision 0 until saved, then read back as saved."""
        with store.unit_of_work() as uow:
            assert uow.rules.get() == RuleBook()
        book = _rule_book()
        with store.unit_of_work() as uow:
            first = uow.rules.save(book)
        assert first == attrs.evolve(book, revision=1)
        email_only = attrs.evolve(
            first, channels={ChannelType.EMAIL: first.for_channel(ChannelType.EMAIL)}
        )
        with store.unit_of_work() as uow:
            assert uow.rules.get() == first
            second = uow.rules.save(email_only)
            assert uow.rules.get() == second  # a unit sees its own writes
        assert second == attrs.evolve(email_only, revision=2)
        with store.unit_of_work() as uow:
            assert uow.rules.get() == second
            assert uow.rules.get().for_channel(ChannelType.SMS) == BusinessRules()

    def test_a_stale_rule_book_save_is_refused(self, store: Store) -> None:
        """Optimistic concurrency on the rule book, from the very first save on."""
        with store.unit_of_work() as uow:
            empty = uow.rules.get()
        with store.unit_of_work() as uow:
            first = uow.rules.save(_rule_book())
        push_cap = BusinessRules(caps=(FrequencyCap(max=9, per=pendulum.duration(hours=1)),))
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.rules.save(attrs.evolve(empty, channels={ChannelType.PUSH: push_cap}))
        with store.unit_of_work() as uow:
            assert uow.rules.get() == first
            second = uow.rules.save(RuleBook(revision=first.revision))  # clears every rule
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.rules.save(first)
        with store.unit_of_work() as uow:
            assert uow.rules.get() == second == RuleBook(revision=2)

    def test_a_failed_unit_leaves_contacts_rules_and_queued_entries_untouched(
        self, store: Store
    ) -> None:
        """Contacts, the rule book and queued ledger entries of a failed unit are undone."""
        t = EPOCH
        queued = _queued("p1", t.add(hours=1))
        with store.unit_of_work() as uow:
            uow.contacts.record(ChannelType.EMAIL, [("p1", t)])
            kept = uow.rules.save(_rule_book())
            uow.ledger.put([queued])
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.contacts.record(ChannelType.EMAIL, [("p1", t), ("p2", t.add(minutes=1))])
            uow.contacts.record(ChannelType.SMS, [("p1", t)])
            uow.rules.save(RuleBook(revision=kept.revision))
            uow.ledger.put(
                [
                    attrs.evolve(queued, next_attempt_at=t, slot=t),
                    _queued("p2", t.subtract(hours=1)),
                ]
            )
            counts = uow.contacts.counts(ChannelType.EMAIL, ["p1", "p2"], t)
            assert _nonzero(counts) == {"p1": 2, "p2": 1}  # a unit sees its own writes
            assert uow.ledger.next_due_at("run_1") == t.subtract(hours=1)
            raise _Boom
        with store.unit_of_work() as uow:
            counts = uow.contacts.counts(ChannelType.EMAIL, ["p1", "p2"], t)
            assert _nonzero(counts) == {"p1": 1}
            assert _nonzero(uow.contacts.counts(ChannelType.SMS, ["p1"], t)) == {}
            assert uow.rules.get() == kept
            assert _entries(uow) == [queued]
            assert uow.ledger.next_due_at("run_1") == t.add(hours=1)
            assert _due(uow, t) == []

    def test_a_failed_first_rule_book_save_leaves_none_saved(self, store: Store) -> None:
        """Rolling back the first save leaves the empty book, and a later first save works."""
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.rules.save(_rule_book())
            raise _Boom
        with store.unit_of_work() as uow:
            assert uow.rules.get() == RuleBook()
            saved = uow.rules.save(_rule_book())
        assert saved == attrs.evolve(_rule_book(), revision=1)

    # ------------------------------------------------------------ executions

    def test_executions_round_trip_and_are_unique_per_request(self, store: Store) -> None:
        """An execution is stored at revision 1, found by id and by (campaign, request id)."""
        with store.unit_of_work() as uow:
            added = uow.executions.add(_execution("exe_1"))
            other = uow.executions.add(_execution("exe_2", campaign_id="cmp_2"))
        assert added.revision == 1
        with store.unit_of_work() as uow:
            assert uow.executions.get("exe_1") == added
            assert uow.executions.by_request("cmp_1", "req-1") == added
            assert uow.executions.by_request("cmp_2", "req-1") == other
            assert uow.executions.by_request("cmp_1", "req-2") is None
            with pytest.raises(NotFound):
                uow.executions.get("missing")
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.executions.add(_execution("exe_3"))  # the same request id again
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.executions.add(_execution("exe_1", request_id="req-9"))  # the same id again
        with store.unit_of_work() as uow:
            assert uow.executions.by_request("cmp_1", "req-9") is None

    def test_execution_save_refuses_stale_writes_and_rolls_back(self, store: Store) -> None:
        """Executions are versioned; a failed unit undoes their adds and saves."""
        with store.unit_of_work() as uow:
            loaded = uow.executions.add(_execution())
        with store.unit_of_work() as uow:
            cancelled = uow.executions.save(attrs.evolve(loaded, cancelled_at=EPOCH))
        assert cancelled.revision == 2
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.executions.save(loaded)
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.executions.save(attrs.evolve(cancelled, execute_at=None))
            uow.executions.add(_execution("exe_2", request_id="req-2"))
            raise _Boom
        with store.unit_of_work() as uow:
            assert uow.executions.get("exe_1") == cancelled
            assert uow.executions.by_request("cmp_1", "req-2") is None
