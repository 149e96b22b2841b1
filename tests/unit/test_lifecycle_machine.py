"""Random sessions against the real kit: the lifecycle invariants hold after every step.

A Hypothesis state machine drives an in-memory kit on a ManualClock with
creates, edits, activations, new versions, stops, archives, deletes,
duplicates and clock jumps followed by a tick. Refusals the SPEC expects
(``TransitionNotAllowed``, ``ValidationError``) are caught, and must leave the
campaign as it was; any other error fails the run.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pendulum
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import campaignkit as ck
from campaignkit.domain.lifecycle import REACHABLE_STATUSES, next_due
from tests.factories import make_world

S = ck.CampaignStatus
V = ck.Verb
RUNNING = frozenset({S.SCHEDULED, S.LIVE})
UNACTIVATED = frozenset({S.DRAFT, S.IN_REVIEW})
ENDED = frozenset({S.STOPPED, S.COMPLETED, S.FAILED, S.ARCHIVED})
BIRTH_VERBS = frozenset({V.CREATE, V.DUPLICATE})
DAILY = ck.Recurrence.daily(at="09:00")
DAY = 24 * 3600
MAX_CAMPAIGNS = 3
"""Few campaigns, so random verbs keep hitting the same ones and reach deep statuses."""

# Offsets in seconds: None means "no start" (on activation) or "no end".
start_offsets = st.one_of(
    st.none(),
    st.integers(min_value=60, max_value=600 * 60),  # minutes ahead
    st.integers(min_value=1, max_value=30).map(lambda days: days * DAY),
)
end_offsets = st.one_of(
    st.none(),
    st.integers(min_value=-3600, max_value=12 * 3600),  # may end before its start
    st.integers(min_value=1, max_value=20).map(lambda days: days * DAY),
)
clock_steps = st.one_of(
    st.integers(min_value=1, max_value=3600),
    st.integers(min_value=3600, max_value=40 * DAY),
)
Refusal = (ck.TransitionNotAllowed, ck.ValidationError)
Versions = tuple[ck.CampaignVersion | None, ck.CampaignVersion | None]


@settings(max_examples=150, stateful_step_count=60, deadline=None)
class LifecycleMachine(RuleBasedStateMachine):
    """Drives one kit; tracks what was seen last to check how campaigns move."""

    def __init__(self) -> None:
        super().__init__()
        self.world = make_world()
        self.admin = self.world.admin
        self.ids: list[str] = []
        self.deleted: set[str] = set()
        self.last_status: dict[str, S] = {}
        self.last_history: dict[str, tuple[ck.HistoryEntry, ...]] = {}
        self.last_versions: dict[str, Versions] = {}
        """(live, draft) of campaigns last seen in an ENDED status."""
        self.events_seen = 0
        self.names = 0

    # ------------------------------------------------------------ helpers

    def pick(self, data: st.DataObject) -> str:
        return data.draw(st.sampled_from(self.ids), label="campaign")

    def schedule(
        self, start: int | None, end: int | None, recurring: bool
    ) -> tuple[pendulum.DateTime | None, pendulum.DateTime | None, ck.Recurrence | None]:
        now = self.world.clock.now()
        start_at = None if start is None else now.add(seconds=start)
        base = start_at or now
        end_at = None if end is None else base.add(seconds=end)
        return start_at, end_at, DAILY if recurring else None

    def attempt(self, campaign_id: str, action: Callable[[], object]) -> None:
        """Run a verb; an expected refusal must leave the stored campaign untouched."""
        before = self.admin.get(campaign_id)
        try:
            action()
        except Refusal:
            assert self.admin.get(campaign_id) == before

    def all_campaigns(self) -> dict[str, ck.Campaign]:
        page = self.admin.list_campaigns(statuses=ck.ALL_STATUSES, limit=500)
        assert page.next_cursor is None
        return {c.id: c for c in page.items}

    # ------------------------------------------------------------ rules

    @precondition(lambda self: len(self.ids) < MAX_CAMPAIGNS)
    @rule(
        start=start_offsets,
        end=end_offsets,
        recurring=st.booleans(),
        api=st.integers(min_value=0, max_value=4).map(lambda n: n == 0),
    )
    def create_draft(self, start: int | None, end: int | None, recurring: bool, api: bool) -> None:
        start_at, end_at, recurrence = self.schedule(start, end, recurring)
        self.names += 1
        campaign = self.world.draft(
            f"Campaign {self.names}",
            start=start_at,
            end=end_at,
            recurrence=recurrence,
            type=ck.CampaignType.API_TRIGGERED if api else ck.CampaignType.SCHEDULED,
        )
        assert campaign.status is S.DRAFT
        self.ids.append(campaign.id)

    @precondition(lambda self: self.ids)
    @rule(
        data=st.data(),
        field=st.sampled_from(["schedule", "schedule", "audience", "name", "tags"]),
        start=start_offsets,
        end=end_offsets,
        recurring=st.booleans(),
    )
    def update_draft(
        self, data: st.DataObject, field: str, start: int | None, end: int | None, recurring: bool
    ) -> None:
        campaign_id = self.pick(data)
        admin = self.admin

        def edit() -> object:
            if field == "schedule":
                start_at, end_at, recurrence = self.schedule(start, end, recurring)
                schedule = ck.Schedule(start=start_at, end=end_at, recurrence=recurrence)
                return admin.update_draft(campaign_id, schedule=schedule)
            if field == "audience":
                return admin.update_draft(campaign_id, audience="vip")
            if field == "name":
                return admin.update_draft(campaign_id, name="Renamed")
            return admin.update_draft(campaign_id, tags=[" promo ", "promo"])

        self.attempt(campaign_id, edit)

    @precondition(lambda self: self.ids)
    @rule(data=st.data())
    def activate(self, data: st.DataObject) -> None:
        campaign_id = self.pick(data)
        self.attempt(campaign_id, lambda: self.admin.activate(campaign_id))

    @precondition(lambda self: self.ids)
    @rule(data=st.data())
    def modify(self, data: st.DataObject) -> None:
        campaign_id = self.pick(data)
        self.attempt(campaign_id, lambda: self.admin.modify(campaign_id))

    @precondition(lambda self: self.ids)
    @rule(data=st.data())
    def discard_draft(self, data: st.DataObject) -> None:
        campaign_id = self.pick(data)
        self.attempt(campaign_id, lambda: self.admin.discard_draft(campaign_id))

    @precondition(lambda self: self.ids)
    @rule(data=st.data())
    def stop(self, data: st.DataObject) -> None:
        campaign_id = self.pick(data)
        self.attempt(campaign_id, lambda: self.admin.stop(campaign_id))

    @precondition(lambda self: self.ids)
    @rule(data=st.data())
    def archive(self, data: st.DataObject) -> None:
        campaign_id = self.pick(data)
        self.attempt(campaign_id, lambda: self.admin.archive(campaign_id))

    @precondition(lambda self: self.ids)
    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        campaign_id = self.pick(data)
        before = self.admin.get(campaign_id)
        try:
            self.admin.delete(campaign_id)
        except ck.TransitionNotAllowed:
            assert self.admin.get(campaign_id) == before
            return
        assert before.status is S.DRAFT
        self.ids.remove(campaign_id)
        self.deleted.add(campaign_id)

    @precondition(lambda self: 0 < len(self.ids) < MAX_CAMPAIGNS)
    @rule(data=st.data(), named=st.booleans())
    def duplicate(self, data: st.DataObject, named: bool) -> None:
        source = self.admin.get(self.pick(data))
        copy = self.admin.duplicate(source.id, "Copied" if named else None)
        assert copy.id != source.id
        assert copy.status is S.DRAFT
        assert copy.name == ("Copied" if named else f"{source.name} (copy)")
        assert copy.draft_version is not None
        assert copy.live_version is None
        newest = source.draft_version or source.live_version
        assert newest is not None
        assert copy.draft_version.number == 1
        assert (copy.draft_version.actions, copy.draft_version.schedule) == (
            newest.actions,
            newest.schedule,
        )
        self.ids.append(copy.id)

    @rule(seconds=clock_steps)
    def advance_and_tick(self, seconds: int) -> None:
        self.world.clock.advance(seconds=seconds)
        report = self.world.kit.tick()
        now = self.world.clock.now()
        assert report.now == now
        assert report.next_due_at is None or report.next_due_at > now
        for campaign in self.all_campaigns().values():
            assert campaign.due_at is None or campaign.due_at > now, (
                campaign.id,
                campaign.status,
                campaign.due_at,
                now,
            )
        purged = {
            e.campaign_id
            for e in report.events
            if isinstance(e, ck.CampaignRemoved) and e.verb is V.PURGE
        }
        self.ids = [i for i in self.ids if i not in purged]

    # ------------------------------------------------------------ invariants

    @invariant()
    def lifecycle_invariants(self) -> None:
        now = self.world.clock.now()
        rules = self.world.kit.lifecycle
        campaigns = self.all_campaigns()
        assert set(campaigns) == set(self.ids)

        new_events = self.world.events[self.events_seen :]
        self.events_seen = len(self.world.events)
        published: dict[str, list[ck.HistoryEntry]] = {}
        removed: dict[str, V] = {}
        for event in new_events:
            if isinstance(event, ck.CampaignChanged):
                published.setdefault(event.campaign_id, []).append(event.entry)
            elif isinstance(event, ck.CampaignRemoved):
                removed[event.campaign_id] = event.verb

        for campaign_id, last in list(self.last_status.items()):
            if campaign_id in campaigns:
                continue
            # Gone: deleted as a DRAFT by us, or purged by the engine once ARCHIVED.
            expected = V.DELETE if campaign_id in self.deleted else V.PURGE
            assert removed.get(campaign_id) is expected, (campaign_id, last, removed)
            assert last is (S.DRAFT if expected is V.DELETE else S.ARCHIVED)
            del self.last_status[campaign_id]
            del self.last_history[campaign_id]
            self.last_versions.pop(campaign_id, None)

        for campaign in campaigns.values():
            self.check_campaign(campaign, now, rules)
            previous = self.last_history.get(campaign.id, ())
            assert published.get(campaign.id, []) == list(campaign.history[len(previous) :])
            self.last_status[campaign.id] = campaign.status
            self.last_history[campaign.id] = campaign.history
            if campaign.status in ENDED:
                self.last_versions[campaign.id] = (campaign.live_version, campaign.draft_version)

    def check_campaign(
        self, campaign: ck.Campaign, now: pendulum.DateTime, rules: ck.LifecycleRules
    ) -> None:
        status = campaign.status
        assert status in REACHABLE_STATUSES

        # A STOPPED campaign can only be archived.
        if self.last_status.get(campaign.id) is S.STOPPED:
            assert status in (S.STOPPED, S.ARCHIVED), (campaign.id, status)

        # Versions: a draft-only campaign, or a live version with at most one open draft.
        live, draft = campaign.live_version, campaign.draft_version
        if status in UNACTIVATED:
            assert live is None
            assert draft is not None
        else:
            assert live is not None
        if live is not None and draft is not None:
            # Open in SCHEDULED/LIVE; kept (not open) once the run ended
            # (docs/decisions/foundation.md).
            assert status in ENDED | RUNNING, (campaign.id, status, "draft beside live")
            assert draft.number > live.number
        assert campaign.has_open_draft == (
            status in RUNNING and live is not None and draft is not None
        )
        assert not campaign.draft_in_review or campaign.has_open_draft
        # An ended campaign is read-only: its versions never change again.
        ended_before = self.last_versions.get(campaign.id)
        if status in ENDED and ended_before is not None:
            assert (live, draft) == ended_before, (campaign.id, status)
        if status is S.LIVE:
            assert campaign.went_live_at is not None

        # The due index agrees with the rules, and no step leaves work overdue behind it
        # (only a tick may find work due; it is then dated when due, see advance_and_tick).
        assert campaign.due_at == next_due(campaign, rules)
        assert campaign.due_at is None or campaign.due_at >= now, (campaign.id, campaign.due_at)

        # History: append-only, in time order, every step allowed by the table.
        history = campaign.history
        previous = self.last_history.get(campaign.id, ())
        assert history[: len(previous)] == previous
        assert history
        first = history[0]
        assert first.action in BIRTH_VERBS
        assert (first.from_status, first.to_status) == (None, S.DRAFT)
        for before, entry in itertools.pairwise(history):
            assert entry.at >= before.at, (campaign.id, before, entry)
            assert entry.action not in BIRTH_VERBS
            assert entry.from_status is before.to_status
            assert entry.to_status in ck.TRANSITIONS[entry.action][entry.from_status], entry
        assert history[-1].to_status is status
        assert history[-1].at <= now
        assert campaign.updated_at == history[-1].at


TestLifecycle = LifecycleMachine.TestCase
