"""Store contract: what copying a store reads and writes (``scan``, ``restore`` and friends)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

import attrs
import pytest

from campaignkit.domain.access import Principal
from campaignkit.domain.campaign_enums import CampaignStatus
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import FeedbackEvent, LedgerState
from campaignkit.domain.listing import CampaignQuery
from campaignkit.errors import ConflictError
from campaignkit.permissions import ProductProfile
from campaignkit.ports import Store
from campaignkit.testing.contracts._support import (
    _Boom,
    _entry,
    _execution,
    _feedback,
    _full_run,
    _policy,
    _rule_book,
    _run,
)
from campaignkit.testing.factories import EPOCH, make_campaign, make_surface

T = TypeVar("T")


def _flat(batches: Iterable[Sequence[T]], batch_size: int) -> list[T]:
    """The items of ``batches``, checking that none is empty or larger than ``batch_size``."""
    items: list[T] = []
    for batch in batches:
        assert 0 < len(batch) <= batch_size
        items.extend(batch)
    return items


class CopyingStoreContract:
    """Store contract checks for the methods :func:`campaignkit.adapters.copy_store` uses.

    Provide a ``store`` fixture returning a new, empty store.
    """

    def test_campaigns_scan_in_id_order_and_restore_keeps_the_revision(self, store: Store) -> None:
        """``restore`` stores a campaign at its own revision, indexed like any other."""
        with store.unit_of_work() as uow:
            assert _flat(uow.campaigns.scan(2), 2) == []
            for cid in ("cmp_c", "cmp_a", "cmp_b"):
                uow.campaigns.add(make_campaign(cid))
        copied = attrs.evolve(
            make_campaign("cmp_r", status=CampaignStatus.SCHEDULED, tags=("promo",), due_at=EPOCH),
            revision=7,
        )
        with store.unit_of_work() as uow:
            uow.campaigns.restore(copied)
        with store.unit_of_work() as uow:
            ids = [c.id for c in _flat(uow.campaigns.scan(2), 2)]
            assert ids == ["cmp_a", "cmp_b", "cmp_c", "cmp_r"]
            assert uow.campaigns.get("cmp_r") == copied
            assert uow.campaigns.due(EPOCH, 10) == [(EPOCH, "cmp_r")]
            page = uow.campaigns.query(CampaignQuery(tag="promo"))
            assert [c.id for c in page.items] == ["cmp_r"]
            saved = uow.campaigns.save(attrs.evolve(copied, name="Renamed"))
        assert saved.revision == 8
        with store.unit_of_work() as uow:  # restore replaces whatever has the id
            uow.campaigns.restore(copied)
        with store.unit_of_work() as uow:
            assert uow.campaigns.get("cmp_r") == copied

    def test_surfaces_and_policies_restore_keeps_revisions(self, store: Store) -> None:
        """Surfaces and approval policies are restored at their revisions, replacing by id."""
        surface = attrs.evolve(make_surface("srf_1", name="News"), revision=4)
        policy = attrs.evolve(_policy("pol_1"), revision=3)
        with store.unit_of_work() as uow:
            uow.surfaces.restore(surface)
            uow.approval_policies.restore(policy)
        with store.unit_of_work() as uow:
            assert uow.surfaces.get("srf_1") == surface
            assert uow.approval_policies.get("pol_1") == policy
            uow.surfaces.restore(attrs.evolve(surface, name="Renamed", revision=5))
            uow.approval_policies.restore(attrs.evolve(policy, name="Other", revision=9))
        with store.unit_of_work() as uow:
            assert [(s.name, s.revision) for s in uow.surfaces.list()] == [("Renamed", 5)]
            assert [(p.name, p.revision) for p in uow.approval_policies.list()] == [("Other", 9)]
            assert uow.surfaces.save(uow.surfaces.get("srf_1")).revision == 6

    def test_restoring_a_surface_under_a_taken_name_conflicts(self, store: Store) -> None:
        """Surface names stay unique: a restored surface cannot take another's name."""
        with store.unit_of_work() as uow:
            uow.surfaces.add(make_surface("srf_1", name="News"))
        with pytest.raises(ConflictError, match="News"), store.unit_of_work() as uow:
            uow.surfaces.restore(make_surface("srf_2", name="News"))
        with store.unit_of_work() as uow:
            assert [s.id for s in uow.surfaces.list()] == ["srf_1"]

    def test_memberships_lists_every_group_member(self, store: Store) -> None:
        """``memberships`` lists ``(group, user)`` pairs, ordered."""
        with store.unit_of_work() as uow:
            assert list(uow.access.memberships()) == []
            uow.access.set_member("sales", "bob", member=True)
            uow.access.set_member("legal", "zoe", member=True)
            uow.access.set_member("legal", "ann", member=True)
            uow.access.set_profiles(Principal.user("ann"), frozenset({ProductProfile.VIEWER}))
        with store.unit_of_work() as uow:
            assert list(uow.access.memberships()) == [
                ("legal", "ann"),
                ("legal", "zoe"),
                ("sales", "bob"),
            ]

    def test_runs_scan_and_restore_keep_every_field(self, store: Store) -> None:
        """Runs are scanned in id order; a restored run keeps its revision and is due."""
        full = attrs.evolve(_full_run(), revision=12)
        with store.unit_of_work() as uow:
            uow.runs.add(_run("run_b"))
            uow.runs.add(_run("run_a"))
            uow.runs.restore(full)
        with store.unit_of_work() as uow:
            runs = _flat(uow.runs.scan(2), 2)
            assert [r.id for r in runs] == ["run_a", "run_b", "run_full"]
            assert runs[2] == full
            assert uow.runs.due(full.due_at or EPOCH, 10) == [(full.due_at, "run_full")]
            assert uow.runs.save(uow.runs.get("run_full")).revision == 13
        with store.unit_of_work() as uow:
            uow.runs.restore(full)
        with store.unit_of_work() as uow:
            assert uow.runs.get("run_full") == full

    def test_ledger_scan_reads_a_run_in_key_batches(self, store: Store) -> None:
        """``ledger.scan`` yields every entry of one run, by profile then action."""
        entries = [
            _entry(
                f"p{i}",
                action_id=action,
                state=LedgerState.SENT,
                provider_message_id=f"m{i}{action}",
            )
            for i in range(5)
            for action in ("act_sms", "act_email")
        ]
        with store.unit_of_work() as uow:
            assert _flat(uow.ledger.scan("run_1", 3), 3) == []
            uow.ledger.put(entries)
            uow.ledger.put([_entry("p0", run_id="run_2")])
        with store.unit_of_work() as uow:
            scanned = _flat(uow.ledger.scan("run_1", 3), 3)
        assert scanned == sorted(entries, key=lambda e: (e.profile_id, e.action_id))

    def test_contacts_scan_lists_keyed_and_unkeyed_contacts(self, store: Store) -> None:
        """Every recorded contact is listed once, with its key; forgotten ones are not."""
        t = EPOCH
        with store.unit_of_work() as uow:
            assert _flat(uow.contacts.scan(2), 2) == []
            uow.contacts.record(ChannelType.EMAIL, [("p1", t), ("p2", t)], ["k1", "k2"])
            uow.contacts.record(ChannelType.EMAIL, [("p1", t), ("p1", t.add(hours=1))])
            uow.contacts.record(ChannelType.SMS, [("p3", t)], ["k3"])
        with store.unit_of_work() as uow:
            uow.contacts.forget(ChannelType.EMAIL, [("p2", "k2")])
        with store.unit_of_work() as uow:
            scanned = _flat(uow.contacts.scan(2), 2)
        assert sorted(scanned, key=lambda r: (r[0].value, r[1], r[2], r[3] or "")) == [
            (ChannelType.EMAIL, "p1", t, None),
            (ChannelType.EMAIL, "p1", t, "k1"),
            (ChannelType.EMAIL, "p1", t.add(hours=1), None),
            (ChannelType.SMS, "p3", t, "k3"),
        ]

    def test_feedback_suppressions_and_audiences_are_listed(self, store: Store) -> None:
        """Feedback oldest first, suppressions ordered, audience names ordered."""
        records = [
            _feedback(EPOCH.add(minutes=i), FeedbackEvent.OPENED, campaign_id=f"cmp_{i % 2}")
            for i in range(3)
        ]
        with store.unit_of_work() as uow:
            assert _flat(uow.feedback.scan(2), 2) == []
            assert _flat(uow.suppressions.scan(2), 2) == []
            assert list(uow.audiences.names()) == []
            for record in records:
                uow.feedback.add(record)
            uow.suppressions.add(ChannelType.SMS, "+331")
            uow.suppressions.add(ChannelType.EMAIL, "b@example.com")
            uow.suppressions.add(ChannelType.EMAIL, "a@example.com")
            uow.audiences.define("vip", ["p1"])
            uow.audiences.define("all", ["p1", "p2"])
        with store.unit_of_work() as uow:
            assert _flat(uow.feedback.scan(2), 2) == records
            assert _flat(uow.suppressions.scan(2), 2) == [
                (ChannelType.EMAIL, "a@example.com"),
                (ChannelType.EMAIL, "b@example.com"),
                (ChannelType.SMS, "+331"),
            ]
            assert list(uow.audiences.names()) == ["all", "vip"]

    def test_executions_scan_and_restore(self, store: Store) -> None:
        """Executions keep their revision; the request id stays unique per campaign."""
        copied = attrs.evolve(_execution("exe_b", request_id="req-b"), revision=4)
        with store.unit_of_work() as uow:
            uow.executions.add(_execution("exe_a", request_id="req-a"))
            uow.executions.restore(copied)
        with store.unit_of_work() as uow:
            assert _flat(uow.executions.scan(1), 1) == [uow.executions.get("exe_a"), copied]
            moved = attrs.evolve(copied, request_id="req-c", revision=5)
            uow.executions.restore(moved)
        with store.unit_of_work() as uow:
            assert uow.executions.by_request("cmp_1", "req-c") == moved
            assert uow.executions.by_request("cmp_1", "req-b") is None
        with pytest.raises(ConflictError, match="req-a"), store.unit_of_work() as uow:
            uow.executions.restore(_execution("exe_z", request_id="req-a"))

    def test_rules_restore_keeps_the_revision(self, store: Store) -> None:
        """The rule book is restored at its revision (saved or not before)."""
        rules = attrs.evolve(_rule_book(), revision=6)
        with store.unit_of_work() as uow:
            uow.rules.restore(rules)
        with store.unit_of_work() as uow:
            assert uow.rules.get() == rules
            uow.rules.restore(attrs.evolve(rules, revision=2))
        with store.unit_of_work() as uow:
            assert uow.rules.save(uow.rules.get()).revision == 3

    def test_restores_roll_back_with_their_unit(self, store: Store) -> None:
        """Restores are written in the unit of work: a failing unit leaves nothing."""
        with store.unit_of_work() as uow:
            uow.executions.add(_execution("exe_1", request_id="req-1"))
            uow.runs.add(_run("run_1"))
        before_execution = attrs.evolve(_execution("exe_1", request_id="req-1"), revision=1)
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.campaigns.restore(attrs.evolve(make_campaign("cmp_1"), revision=3))
            uow.surfaces.restore(make_surface("srf_1"))
            uow.approval_policies.restore(_policy("pol_1"))
            uow.runs.restore(attrs.evolve(_run("run_1"), revision=9))
            uow.executions.restore(attrs.evolve(before_execution, request_id="req-2", revision=5))
            uow.executions.restore(_execution("exe_2", request_id="req-3"))
            uow.rules.restore(attrs.evolve(_rule_book(), revision=4))
            raise _Boom
        with store.unit_of_work() as uow:
            assert uow.campaigns.find("cmp_1") is None
            assert list(uow.surfaces.list()) == []
            assert list(uow.approval_policies.list()) == []
            assert uow.runs.get("run_1").revision == 1
            assert uow.executions.get("exe_1") == before_execution
            assert uow.executions.by_request("cmp_1", "req-1") == before_execution
            assert uow.executions.by_request("cmp_1", "req-3") is None
            assert uow.rules.get().revision == 0
