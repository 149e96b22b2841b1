"""Store contract: campaigns, the due index, queries and concurrent writers."""

from __future__ import annotations

import threading

import attrs
import pendulum
import pytest

from campaignkit.domain.access import Principal
from campaignkit.domain.campaign_enums import ALL_STATUSES, CampaignType
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.listing import CampaignQuery
from campaignkit.errors import ConflictError, NotFound, ValidationError
from campaignkit.permissions import ProductProfile
from campaignkit.ports import (
    Store,
)
from campaignkit.testing.contracts._support import (
    S,
    _Boom,
    _scheduled_campaign,
)
from campaignkit.testing.factories import EPOCH, make_campaign, make_surface


class CampaignStoreContract:
    """Store contract checks for campaigns, the due index, queries and threads.

    Provide a ``store`` fixture returning a new, empty store.
    """

    # ------------------------------------------------------------ campaigns

    def test_add_then_get_returns_the_campaign_at_revision_1(self, store: Store) -> None:
        """A new campaign is stored at revision 1 and read back equal."""
        with store.unit_of_work() as uow:
            added = uow.campaigns.add(make_campaign("c1", tags=("a", "b")))
        with store.unit_of_work() as uow:
            assert uow.campaigns.get("c1") == added
            assert added.revision == 1
            assert uow.campaigns.find("missing") is None
            with pytest.raises(NotFound):
                uow.campaigns.get("missing")

    def test_add_refuses_an_existing_id(self, store: Store) -> None:
        """Two campaigns cannot share an id."""
        with store.unit_of_work() as uow:
            uow.campaigns.add(make_campaign("c1"))
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.campaigns.add(make_campaign("c1"))

    def test_save_bumps_the_revision_and_refuses_stale_writes(self, store: Store) -> None:
        """Optimistic concurrency: the second writer of the same revision loses."""
        with store.unit_of_work() as uow:
            loaded = uow.campaigns.add(make_campaign("c1"))
        with store.unit_of_work() as uow:
            first = uow.campaigns.save(attrs.evolve(loaded, name="first"))
        assert first.revision == 2
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.campaigns.save(attrs.evolve(loaded, name="second"))
        with store.unit_of_work() as uow:
            assert uow.campaigns.get("c1").name == "first"

    def test_remove_deletes_and_refuses_stale_or_missing(self, store: Store) -> None:
        """Removal checks the revision too; a removed campaign cannot be saved."""
        with store.unit_of_work() as uow:
            loaded = uow.campaigns.add(make_campaign("c1", due_at=EPOCH))
        with store.unit_of_work() as uow:
            uow.campaigns.save(attrs.evolve(loaded, name="changed"))
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.campaigns.remove(loaded)
        with store.unit_of_work() as uow:
            uow.campaigns.remove(uow.campaigns.get("c1"))
        with store.unit_of_work() as uow:
            assert uow.campaigns.find("c1") is None
            assert uow.campaigns.next_due_at() is None
        with pytest.raises(ConflictError), store.unit_of_work() as uow:
            uow.campaigns.save(loaded)

    def test_add_refuses_a_campaign_that_has_a_revision(self, store: Store) -> None:
        """Only a new value (revision 0) can be added; anything else is a ValidationError."""
        with store.unit_of_work() as uow:
            stored = uow.campaigns.add(make_campaign("c1"))
        with pytest.raises(ValidationError), store.unit_of_work() as uow:
            uow.campaigns.add(attrs.evolve(make_campaign("c2"), revision=3))
        with pytest.raises(ValidationError), store.unit_of_work() as uow:
            uow.campaigns.add(stored)
        with store.unit_of_work() as uow:
            assert uow.campaigns.find("c2") is None
            assert uow.campaigns.get("c1") == stored

    def test_status_answers_for_stored_campaigns_only(self, store: Store) -> None:
        """``status`` is the stored status, following saves; None for an unknown id."""
        with store.unit_of_work() as uow:
            live = uow.campaigns.add(make_campaign("c1", status=S.LIVE))
            uow.campaigns.add(make_campaign("c2"))
        with store.unit_of_work() as uow:
            assert uow.campaigns.status("c1") is S.LIVE
            assert uow.campaigns.status("c2") is S.DRAFT
            assert uow.campaigns.status("missing") is None
            uow.campaigns.save(attrs.evolve(live, status=S.STOPPED))
            assert uow.campaigns.status("c1") is S.STOPPED
        with store.unit_of_work() as uow:
            assert uow.campaigns.status("c1") is S.STOPPED

    def test_campaigns_keep_their_scheduling_fields(self, store: Store) -> None:
        """Recurrences, waves, time zones, send windows, quiet hours, rate limits are stored.

        So are the run bookkeeping fields (open runs, last finish, next occurrence).
        """
        campaign = _scheduled_campaign()
        with store.unit_of_work() as uow:
            added = uow.campaigns.add(campaign)
        assert added == attrs.evolve(campaign, revision=1)
        with store.unit_of_work() as uow:
            assert uow.campaigns.get(campaign.id) == added
        later = EPOCH.add(days=18, hours=8, minutes=30)
        finished = attrs.evolve(
            added, open_runs=0, runs_finished_at=later, next_occurrence_at=None, due_at=later
        )
        with store.unit_of_work() as uow:
            saved = uow.campaigns.save(finished)
        with store.unit_of_work() as uow:
            assert uow.campaigns.get(campaign.id) == saved
            assert saved == attrs.evolve(finished, revision=2)
            assert list(uow.campaigns.due(later, 10)) == [(later, campaign.id)]

    def test_a_unit_that_raises_changes_nothing(self, store: Store) -> None:
        """All or nothing: every write of a failed unit is undone."""
        with store.unit_of_work() as uow:
            kept = uow.campaigns.add(make_campaign("kept", due_at=EPOCH))
            uow.access.set_profiles(Principal.user("ada"), frozenset({ProductProfile.VIEWER}))
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.campaigns.add(make_campaign("new", due_at=EPOCH))
            uow.campaigns.save(attrs.evolve(kept, name="renamed", due_at=EPOCH.add(days=1)))
            uow.surfaces.add(make_surface("s1"))
            uow.access.set_profiles(Principal.user("ada"), frozenset())
            uow.access.set_profiles(Principal.user("bob"), frozenset({ProductProfile.MANAGER}))
            raise _Boom
        with store.unit_of_work() as uow:
            assert uow.campaigns.find("new") is None
            assert uow.campaigns.get("kept") == kept
            assert uow.campaigns.due(EPOCH, 10) == [(EPOCH, "kept")]
            assert uow.surfaces.find("s1") is None
            assert uow.access.all() == {Principal.user("ada"): frozenset({ProductProfile.VIEWER})}

    def test_a_failed_remove_and_surface_save_roll_back(self, store: Store) -> None:
        """Removals and surface updates are undone with their unit."""
        with store.unit_of_work() as uow:
            kept = uow.campaigns.add(make_campaign("kept"))
            surface = uow.surfaces.add(make_surface("s1"))
        with pytest.raises(_Boom), store.unit_of_work() as uow:
            uow.campaigns.remove(kept)
            uow.surfaces.save(attrs.evolve(surface, name="renamed"))
            raise _Boom
        with store.unit_of_work() as uow:
            assert uow.campaigns.get("kept") == kept
            assert uow.surfaces.get("s1") == surface

    def test_nested_unit_joins_the_outer_one(self, store: Store) -> None:
        """A unit opened inside another on the same thread is part of it."""
        with pytest.raises(_Boom), store.unit_of_work() as outer:
            outer.campaigns.add(make_campaign("c1"))
            with store.unit_of_work() as inner:
                assert inner.campaigns.find("c1") is not None
                inner.campaigns.add(make_campaign("c2"))
            raise _Boom
        with store.unit_of_work() as uow:
            assert uow.campaigns.find("c1") is None
            assert uow.campaigns.find("c2") is None

    # ------------------------------------------------------------ due index

    def test_due_returns_due_work_in_due_at_then_id_order(self, store: Store) -> None:
        """The due query is ordered by (due_at, id), inclusive of ``until``, limited."""
        t = EPOCH
        with store.unit_of_work() as uow:
            uow.campaigns.add(make_campaign("b", due_at=t.add(hours=1)))
            uow.campaigns.add(make_campaign("a", due_at=t.add(hours=1)))
            uow.campaigns.add(make_campaign("c", due_at=t))
            uow.campaigns.add(make_campaign("later", due_at=t.add(days=1)))
            uow.campaigns.add(make_campaign("never"))
        with store.unit_of_work() as uow:
            hour = t.add(hours=1)
            assert list(uow.campaigns.due(hour, 10)) == [(t, "c"), (hour, "a"), (hour, "b")]
            assert list(uow.campaigns.due(hour, 2)) == [(t, "c"), (hour, "a")]
            assert list(uow.campaigns.due(t.subtract(seconds=1), 10)) == []
            assert uow.campaigns.next_due_at() == t

    def test_due_index_follows_saves(self, store: Store) -> None:
        """Saving a campaign with another due_at moves it in the index."""
        with store.unit_of_work() as uow:
            c = uow.campaigns.add(make_campaign("c", due_at=EPOCH))
        with store.unit_of_work() as uow:
            uow.campaigns.save(attrs.evolve(c, due_at=None))
        with store.unit_of_work() as uow:
            assert list(uow.campaigns.due(EPOCH.add(years=1), 10)) == []
            assert uow.campaigns.next_due_at() is None

    def test_due_instants_are_utc_and_comparable(self, store: Store) -> None:
        """A due_at given in another zone is the same instant."""
        paris = pendulum.datetime(2026, 1, 1, 10, tz="Europe/Paris")  # 09:00 UTC
        with store.unit_of_work() as uow:
            uow.campaigns.add(make_campaign("c", due_at=paris.in_timezone("UTC")))
        with store.unit_of_work() as uow:
            assert [cid for _, cid in uow.campaigns.due(EPOCH.add(hours=9), 5)] == ["c"]

    # ------------------------------------------------------------ queries

    def _fill(self, store: Store) -> None:
        rows = [
            ("d1", S.DRAFT, CampaignType.SCHEDULED, ("promo",), "Winter SALE", ChannelType.EMAIL),
            ("l1", S.LIVE, CampaignType.SCHEDULED, ("promo", "vip"), "Summer", ChannelType.SMS),
            ("s1", S.SCHEDULED, CampaignType.API_TRIGGERED, (), "Reset password", ChannelType.PUSH),
            ("c1", S.COMPLETED, CampaignType.SCHEDULED, ("promo",), "Old sale", ChannelType.EMAIL),
            ("a1", S.ARCHIVED, CampaignType.SCHEDULED, (), "Archived", ChannelType.SMS),
        ]
        with store.unit_of_work() as uow:
            for hours, (cid, status, kind, tags, name, channel) in enumerate(rows):
                uow.campaigns.add(
                    make_campaign(
                        cid,
                        status=status,
                        type=kind,
                        tags=tags,
                        name=name,
                        channels=(channel,),
                        created_at=EPOCH.add(hours=hours),
                        surface_id=f"srf_{channel.value}",
                    )
                )

    def _ids(self, store: Store, query: CampaignQuery) -> list[str]:
        with store.unit_of_work() as uow:
            return [c.id for c in uow.campaigns.query(query)]

    def test_query_default_filter_is_draft_scheduled_live_newest_first(self, store: Store) -> None:
        """Without a status filter only DRAFT, SCHEDULED and LIVE show, newest first."""
        self._fill(store)
        assert self._ids(store, CampaignQuery()) == ["s1", "l1", "d1"]
        assert self._ids(store, CampaignQuery(statuses=ALL_STATUSES)) == [
            "a1",
            "c1",
            "s1",
            "l1",
            "d1",
        ]

    def test_query_filters(self, store: Store) -> None:
        """Each filter narrows the result; filters combine with AND."""
        self._fill(store)
        every = ALL_STATUSES
        assert self._ids(store, CampaignQuery(statuses=every, tag="promo")) == ["c1", "l1", "d1"]
        assert self._ids(store, CampaignQuery(tag="vip")) == ["l1"]
        assert self._ids(store, CampaignQuery(statuses=every, search="sAlE")) == ["c1", "d1"]
        assert self._ids(
            store, CampaignQuery(statuses=every, types=frozenset({CampaignType.API_TRIGGERED}))
        ) == ["s1"]
        assert self._ids(
            store, CampaignQuery(statuses=every, channels=frozenset({ChannelType.SMS}))
        ) == ["a1", "l1"]
        assert self._ids(
            store,
            CampaignQuery(
                statuses=every, created_from=EPOCH.add(hours=1), created_to=EPOCH.add(hours=3)
            ),
        ) == ["s1", "l1"]
        assert self._ids(store, CampaignQuery(statuses=every, surface_id="srf_push")) == ["s1"]
        assert self._ids(store, CampaignQuery(statuses=frozenset({S.FAILED}))) == []

    def test_pages_cover_every_match_once_even_with_equal_timestamps(self, store: Store) -> None:
        """Cursor pagination has no duplicates and no gaps, ties broken by id."""
        with store.unit_of_work() as uow:
            for i in range(23):
                created = EPOCH.add(minutes=i // 3)  # three campaigns per instant
                uow.campaigns.add(make_campaign(f"c{i:02d}", created_at=created))
        seen: list[str] = []
        cursor: str | None = None
        pages = 0
        while True:
            with store.unit_of_work() as uow:
                page = uow.campaigns.query(CampaignQuery(limit=5, cursor=cursor))
            pages += 1
            seen.extend(c.id for c in page)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert pages == 5
        assert len(seen) == len(set(seen)) == 23
        keys = [(EPOCH.add(minutes=int(s[1:]) // 3), s) for s in seen]
        assert keys == sorted(keys, reverse=True)

    def test_campaigns_created_while_paging_do_not_shift_pages(self, store: Store) -> None:
        """A campaign created after page 1 was read does not duplicate rows on page 2."""
        with store.unit_of_work() as uow:
            for i in range(4):
                uow.campaigns.add(make_campaign(f"c{i}", created_at=EPOCH.add(minutes=i)))
            first = uow.campaigns.query(CampaignQuery(limit=2))
        with store.unit_of_work() as uow:
            uow.campaigns.add(make_campaign("newer", created_at=EPOCH.add(days=1)))
            second = uow.campaigns.query(CampaignQuery(limit=2, cursor=first.next_cursor))
        assert [c.id for c in first] + [c.id for c in second] == ["c3", "c2", "c1", "c0"]
        assert second.next_cursor is None

    def test_exact_page_end_has_no_next_cursor(self, store: Store) -> None:
        """When the last page is full, it still says there is no next page."""
        with store.unit_of_work() as uow:
            for i in range(4):
                uow.campaigns.add(make_campaign(f"c{i}", created_at=EPOCH.add(minutes=i)))
            first = uow.campaigns.query(CampaignQuery(limit=2))
            second = uow.campaigns.query(CampaignQuery(limit=2, cursor=first.next_cursor))
        assert first.next_cursor is not None
        assert second.next_cursor is None

    def test_query_refuses_bad_input(self, store: Store) -> None:
        """A bad limit or a foreign cursor is a ValidationError."""
        with store.unit_of_work() as uow:
            with pytest.raises(ValidationError):
                uow.campaigns.query(CampaignQuery(limit=0))
            with pytest.raises(ValidationError):
                uow.campaigns.query(CampaignQuery(cursor="not-a-cursor"))

    # ------------------------------------------------------------ threads

    def test_concurrent_writers_lose_no_update(self, store: Store) -> None:
        """Threads doing read-modify-write never lose an update (conflicts are retried)."""
        with store.unit_of_work() as uow:
            uow.campaigns.add(make_campaign("counter", tags=()))
        workers, rounds = 4, 10
        errors: list[BaseException] = []

        def bump(worker: int) -> None:
            for round_ in range(rounds):
                while True:
                    try:
                        with store.unit_of_work() as uow:
                            c = uow.campaigns.get("counter")
                            tag = f"w{worker}-{round_}"
                            uow.campaigns.save(attrs.evolve(c, tags=(*c.tags, tag)))
                        break
                    except ConflictError:  # pragma: no cover - depends on the adapter
                        continue
                    except BaseException as exc:  # pragma: no cover - reported below
                        errors.append(exc)
                        return

        threads = [threading.Thread(target=bump, args=(w,)) for w in range(workers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        with store.unit_of_work() as uow:
            final = uow.campaigns.get("counter")
        assert len(final.tags) == len(set(final.tags)) == workers * rounds
        assert final.revision == 1 + workers * rounds
