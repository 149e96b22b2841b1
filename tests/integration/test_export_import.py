"""Export from one kit, import into another, through real JSON text.

A package names surfaces, not ids: the target kit resolves them by name (and
channel). Every problem of a package is reported in one ``ValidationError``
and then nothing at all is imported.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

import attrs
import pytest

import campaignkit as ck
from campaignkit.testing import ManualClock, SequentialIds
from tests.factories import T0, World

S = ck.CampaignStatus
FIXTURES: Final = Path(__file__).parent.parent / "fixtures"

Package = dict[str, Any]


# ---------------------------------------------------------------- set-up


def make_kit(kind: str, path: Path, clock: ManualClock, **kwargs: Any) -> ck.CampaignKit:
    if kind == "sqlite":
        return ck.CampaignKit.sqlite(path, clock=clock, **kwargs)
    return ck.CampaignKit.in_memory(clock=clock, **kwargs)


def source_world(kit: ck.CampaignKit, clock: ManualClock) -> World:
    """The source kit: an administrator, one surface per channel, an audience."""
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    kit.audiences.define("vip", ["p1", "p2"])
    admin = kit.as_user("ada")
    email = admin.create_surface(
        name="Newsletter",
        channel=ck.ChannelType.EMAIL,
        settings=ck.EmailSettings(sender="news@example.com"),
    )
    sms = admin.create_surface(
        name="Alerts", channel=ck.ChannelType.SMS, settings=ck.SmsSettings(sender_id="SHOP")
    )
    push = admin.create_surface(
        name="App", channel=ck.ChannelType.PUSH, settings=ck.PushSettings(app_id="com.shop")
    )
    events: list[ck.DomainEvent] = []
    kit.subscribe(events.append)
    return World(kit, clock, admin, email, sms, push, events)


def add_surfaces(kit: ck.CampaignKit, *surfaces: tuple[str, ck.ChannelType]) -> None:
    settings: dict[ck.ChannelType, Any] = {
        ck.ChannelType.EMAIL: ck.EmailSettings(sender="hello@example.org"),
        ck.ChannelType.SMS: ck.SmsSettings(sender_id="TARGET"),
        ck.ChannelType.PUSH: ck.PushSettings(app_id="org.example"),
    }
    admin = kit.as_user("ada")
    for name, channel in surfaces:
        admin.create_surface(name=name, channel=channel, settings=settings[channel])


@attrs.define
class Pair:
    """A source world and a target kit (other store, other ids, later clock)."""

    source: World
    target: ck.CampaignKit
    clock: ManualClock

    @property
    def ada(self) -> ck.UserSession:
        return self.source.admin

    @property
    def importer(self) -> ck.UserSession:
        return self.target.as_user("ada")

    def package(self, *campaign_ids: str) -> Package:
        """Export through JSON text, as a host would store or send it."""
        package: Package = json.loads(json.dumps(self.ada.export(campaign_ids)))
        return package

    def target_state(self) -> tuple[object, ...]:
        """Everything an import could change in the target kit."""
        with self.target.store.unit_of_work() as uow:
            next_due = uow.campaigns.next_due_at()
        return (
            self.importer.list_campaigns(statuses=ck.ALL_STATUSES, limit=500),
            self.importer.list_surfaces(),
            next_due,
        )


PAIRS: Final = {
    "memory to sqlite": ("memory", "sqlite"),
    "sqlite to memory": ("sqlite", "memory"),
    "sqlite to sqlite": ("sqlite", "sqlite"),
}


@pytest.fixture(params=list(PAIRS.values()), ids=list(PAIRS))
def pair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Pair]:
    source_kind, target_kind = request.param
    clock = ManualClock(T0)
    source = make_kit(source_kind, tmp_path / "source.db", clock, ids=SequentialIds())
    target = make_kit(target_kind, tmp_path / "target.db", clock)  # random ids
    try:
        target.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
        target.audiences.define("vip", ["p9"])
        # other creation order, so even sequential ids would differ from the source's
        add_surfaces(
            target,
            ("App", ck.ChannelType.PUSH),
            ("Alerts", ck.ChannelType.SMS),
            ("Newsletter", ck.ChannelType.EMAIL),
            ("Unused", ck.ChannelType.EMAIL),
        )
        target.as_user("ada").create_campaign(name="Already here", tags=["local"])
        yield Pair(source_world(source, clock), target, clock)
    finally:
        source.close()
        target.close()


@pytest.fixture
def memory_pair() -> Pair:
    """In-memory kits only, for the cases where the store plays no part."""
    clock = ManualClock(T0)
    source = ck.CampaignKit.in_memory(clock=clock, ids=SequentialIds())
    target = ck.CampaignKit.in_memory(clock=clock)
    target.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    add_surfaces(target, ("Newsletter", ck.ChannelType.EMAIL), ("Alerts", ck.ChannelType.SMS))
    return Pair(source_world(source, clock), target, clock)


def problems_of(call: Callable[[], object]) -> list[str]:
    with pytest.raises(ck.ValidationError) as raised:
        call()
    assert raised.value.subject == "import package"
    return raised.value.problems


def _push_action(world: World) -> ck.Action:
    return ck.Action(world.push.id, ck.PushContent(title="Digest", body="Version three"))


# ---------------------------------------------------------------- a good import


def test_import_creates_new_drafts_from_the_newest_versions(pair: Pair) -> None:
    world, ada = pair.source, pair.ada
    plain = world.draft(
        "Winter sale",
        start=T0.add(days=3),
        tags=["winter", "promo"],
        actions=[world.email_action("Winter is here"), world.sms_action("Winter!")],
    )
    ada.update_draft(plain.id, description="the big one")
    running = world.live("Daily digest", recurrence=ck.Recurrence.daily(at="10:00"))
    ada.modify(running.id)
    ada.update_draft(running.id, actions=[world.sms_action("Digest, version two")])
    ada.activate(running.id)
    ada.modify(running.id)
    ada.update_draft(running.id, actions=[_push_action(world)])
    api = ada.create_campaign(
        name="Password reset",
        type=ck.CampaignType.API_TRIGGERED,
        category=ck.Category.TRANSACTIONAL,
        actions=[ck.Action(world.email.id, ck.EmailContent(subject="Reset", html="<p>x</p>"))],
        tags=["auth"],
    )
    stopped = world.live("Flash sale")
    ada.stop(stopped.id)
    sources = [ada.get(c.id) for c in (plain, running, api, stopped)]
    assert sources[1].has_open_draft
    assert len(sources[1].superseded_versions) == 1

    pair.clock.advance(hours=5)
    package = pair.package(*(c.id for c in sources))
    assert (package["format"], package["version"]) == ("campaignkit.package", 1)
    assert len(package["campaigns"]) == 4
    # every surface any version uses is named, superseded versions included
    assert package["surfaces"] == {
        world.email.id: {"name": "Newsletter", "channel": "email"},
        world.sms.id: {"name": "Alerts", "channel": "sms"},
        world.push.id: {"name": "App", "channel": "push"},
    }

    events: list[ck.DomainEvent] = []
    pair.target.subscribe(events.append)
    before = pair.importer.list_campaigns(statuses=ck.ALL_STATUSES).items
    copies = pair.importer.import_(package)

    by_name = {s.name: s for s in pair.importer.list_surfaces()}
    source_surfaces = {s.id: s.name for s in ada.list_surfaces()}
    source_ids = {c.id for c in sources}
    assert len({c.id for c in copies}) == 4
    assert not {c.id for c in copies} & (source_ids | {c.id for c in before})
    for imported, source in zip(copies, sources, strict=True):
        newest = source.newest_version
        assert imported.status is S.DRAFT
        assert (imported.name, imported.tags, imported.description) == (
            source.name,
            source.tags,
            source.description,
        )
        assert (imported.type, imported.category) == (source.type, source.category)
        assert imported.live_version is None
        assert imported.superseded_versions == ()
        assert (imported.review, imported.approvals, imported.revision) == (None, (), 1)
        version = imported.draft_version
        assert version is not None
        assert (version.number, version.created_at, version.created_by) == (
            1,
            pair.clock.now(),
            "ada",
        )
        assert (version.audience, version.namespace, version.schedule) == (
            newest.audience,
            newest.namespace,
            newest.schedule,
        )
        assert [(a.surface_id, a.content, a.id) for a in version.actions] == [
            (by_name[source_surfaces[a.surface_id]].id, a.content, a.id) for a in newest.actions
        ]
        [entry] = imported.history
        assert (entry.action, entry.actor, entry.to_status) == (ck.Verb.CREATE, "ada", S.DRAFT)
        assert entry.detail == f"imported from {source.id} version {newest.number}"
        assert pair.importer.get(imported.id) == imported
    digest = copies[1].draft_version
    assert digest is not None  # the open draft's content, not the live version's
    assert [a.content for a in digest.actions] == [_push_action(world).content]
    assert len(events) == 4
    after = pair.importer.list_campaigns(statuses=ck.ALL_STATUSES, limit=500).items
    assert sorted(c.id for c in after) == sorted([*(c.id for c in before), *(c.id for c in copies)])
    # the copies really point at the target's surfaces: they can run there
    assert pair.importer.activate(copies[0].id).status is S.ACTIVATING


def test_importing_twice_makes_two_independent_copies(memory_pair: Pair) -> None:
    draft = memory_pair.source.draft("Twice")
    package = memory_pair.package(draft.id, draft.id)  # asking twice exports it once
    assert len(package["campaigns"]) == 1
    first = memory_pair.importer.import_(package)
    second = memory_pair.importer.import_(package)
    assert first[0].id != second[0].id
    assert first[0].name == second[0].name == "Twice"


def test_a_package_from_an_older_campaignkit_still_imports(memory_pair: Pair) -> None:
    """A version 1 campaign document (before approvals) is upcast on import."""
    document = json.loads((FIXTURES / "campaign_v1.json").read_text(encoding="utf-8"))
    assert document["version"] == 1
    surface_ids = {a["surface_id"] for a in document["data"]["live_version"]["actions"]}
    package: Package = {
        "format": "campaignkit.package",
        "version": 1,
        "campaigns": [document],
        "surfaces": {sid: {"name": "Newsletter", "channel": "email"} for sid in surface_ids},
    }
    [imported] = memory_pair.importer.import_(json.loads(json.dumps(package)))
    assert imported.status is S.DRAFT
    assert imported.name == document["data"]["name"]
    assert imported.draft_version is not None
    newsletter = next(s for s in memory_pair.importer.list_surfaces() if s.name == "Newsletter")
    assert {a.surface_id for a in imported.draft_version.actions} == {newsletter.id}


# ---------------------------------------------------------------- refused packages


def test_every_unresolved_surface_is_reported_and_nothing_is_imported(pair: Pair) -> None:
    world = pair.source
    fine = world.draft("Fine", actions=[world.email_action()])
    wrong_channel = world.draft("Wrong channel", actions=[world.sms_action()])
    both = world.draft(
        "Both", actions=[world.email_action(), world.sms_action(), _push_action(world)]
    )
    package = pair.package(fine.id, wrong_channel.id, both.id)
    # in the target, "Alerts" is an email surface and there is no "App"
    target = pair.importer
    alerts = next(s for s in target.list_surfaces() if s.name == "Alerts")
    app = next(s for s in target.list_surfaces() if s.name == "App")
    with pair.target.store.unit_of_work() as uow:  # rename, as a host's admin might
        uow.surfaces.save(attrs.evolve(alerts, name="Old alerts"))
        uow.surfaces.save(attrs.evolve(app, name="Old app"))
    add_surfaces(pair.target, ("Alerts", ck.ChannelType.EMAIL))
    before = pair.target_state()

    problems = problems_of(lambda: target.import_(package))

    assert problems == [
        "campaign 'Wrong channel' action 1: surface 'Alerts' here is for email, "
        "but the package expects sms",
        "campaign 'Both' action 2: surface 'Alerts' here is for email, but the package expects sms",
        "campaign 'Both' action 3: no surface named 'App' in this kit; create it first",
    ]
    assert pair.target_state() == before


def test_a_surface_the_package_does_not_name_is_reported(memory_pair: Pair) -> None:
    world = memory_pair.source
    a = world.draft("A", actions=[world.email_action()])
    b = world.draft("B", actions=[world.sms_action()])
    package = memory_pair.package(a.id, b.id)
    del package["surfaces"][world.email.id]
    before = memory_pair.target_state()
    problems = problems_of(lambda: memory_pair.importer.import_(package))
    assert problems == [
        f"campaign 'A' action 1: the package does not name surface {world.email.id!r}"
    ]
    assert memory_pair.target_state() == before


def _wrong(changes: dict[str, object]) -> Callable[[Package], object]:
    def apply(package: Package) -> object:
        for key, value in changes.items():
            if value is _DROP:
                del package[key]
            else:
                package[key] = value
        return package

    return apply


_DROP: Final = object()
WRONG_PACKAGES: Final[dict[str, tuple[Callable[[Package], object], list[str]]]] = {
    "format and version": (
        _wrong({"format": "other.tool", "version": 2}),
        [
            "format must be 'campaignkit.package', not 'other.tool'",
            "package version 2 is not supported (this campaignkit reads version 1)",
        ],
    ),
    "missing keys": (
        _wrong({"format": _DROP, "version": _DROP, "campaigns": _DROP, "surfaces": _DROP}),
        [
            "format must be 'campaignkit.package', not None",
            "package version None is not supported (this campaignkit reads version 1)",
            "campaigns must be a list",
            "surfaces must be a mapping of surface id to name and channel",
        ],
    ),
    "wrong shapes": (
        _wrong({"campaigns": {"0": {}}, "surfaces": ["Newsletter"]}),
        [
            "campaigns must be a list",
            "surfaces must be a mapping of surface id to name and channel",
        ],
    ),
    "a version as text": (
        _wrong({"version": "1"}),
        ["package version '1' is not supported (this campaignkit reads version 1)"],
    ),
    "not a mapping": (
        lambda package: [package],
        ["a package is the dict returned by export()"],
    ),
    "still JSON text": (
        json.dumps,
        ["a package is the dict returned by export()"],
    ),
}


@pytest.mark.parametrize("name", list(WRONG_PACKAGES))
def test_a_package_of_another_format_or_version_is_refused_whole(
    memory_pair: Pair, name: str
) -> None:
    draft = memory_pair.source.draft("Good")
    spoil, expected = WRONG_PACKAGES[name]
    package = spoil(memory_pair.package(draft.id))
    before = memory_pair.target_state()
    with pytest.raises(ck.ValidationError) as raised:
        memory_pair.importer.import_(package)
    assert raised.value.problems == expected
    assert memory_pair.target_state() == before


def test_every_malformed_campaign_document_is_reported_and_nothing_imported(
    pair: Pair,
) -> None:
    good = pair.source.draft("Good")
    package = pair.package(good.id)
    [document] = package["campaigns"]
    unknown_field = copy.deepcopy(document)
    unknown_field["data"]["colour"] = "red"
    bad_status = copy.deepcopy(document)
    bad_status["data"]["status"] = "SLEEPING"
    from_the_future = {**copy.deepcopy(document), "version": 99}
    a_surface = {"schema": "surface", "version": 1, "data": {}}
    package["campaigns"] = [
        document,
        unknown_field,
        "not a document",
        bad_status,
        from_the_future,
        a_surface,
        {"schema": "campaign", "version": 2},
    ]
    before = pair.target_state()

    problems = problems_of(lambda: pair.importer.import_(package))

    assert [p.split(":")[0] for p in problems] == [f"campaign {n}" for n in range(2, 8)]
    assert "campaign document (version 2) is invalid" in problems[0]
    assert "not a campaignkit document envelope" in problems[1]
    assert "campaign document (version 2) is invalid" in problems[2]
    assert "newer campaignkit" in problems[3]
    assert "expected a 'campaign' document, found 'surface'" in problems[4]
    assert "not a campaignkit document envelope" in problems[5]
    assert pair.target_state() == before


def test_a_malformed_campaign_document_problem_names_the_field(memory_pair: Pair) -> None:
    good = memory_pair.source.draft("Good")
    package = memory_pair.package(good.id)
    package["campaigns"][0]["data"]["colour"] = "red"
    package["campaigns"][0]["data"]["status"] = "SLEEPING"
    [problem] = problems_of(lambda: memory_pair.importer.import_(package))
    assert "colour" in problem
    assert "status" in problem


def test_a_malformed_old_campaign_document_is_reported(memory_pair: Pair) -> None:
    good = memory_pair.source.draft("Good")
    package = memory_pair.package(good.id)
    package["campaigns"].append({"schema": "campaign", "version": 1, "data": ["not", "a", "map"]})
    before = memory_pair.target_state()
    problems = problems_of(lambda: memory_pair.importer.import_(package))
    assert len(problems) == 1
    assert problems[0].startswith("campaign 2: ")
    assert memory_pair.target_state() == before


def test_a_malformed_surface_entry_is_reported(memory_pair: Pair) -> None:
    world = memory_pair.source
    draft = world.draft("Good", actions=[world.email_action()])
    package = memory_pair.package(draft.id)
    package["surfaces"][world.email.id] = "Newsletter"  # a bare name, not {name, channel}
    before = memory_pair.target_state()
    problems = problems_of(lambda: memory_pair.importer.import_(package))
    assert len(problems) == 1
    assert world.email.id in problems[0]
    assert memory_pair.target_state() == before


def test_a_campaign_the_target_cannot_create_rolls_back_the_whole_import(pair: Pair) -> None:
    """The first campaign is valid and created first; the second fails: neither stays."""
    first = pair.source.draft("First")
    second = pair.source.draft("Second")
    package = pair.package(first.id, second.id)
    package["campaigns"][1]["data"]["name"] = "   "  # a well-formed document, a bad name
    before = pair.target_state()
    with pytest.raises(ck.ValidationError, match="must be a non-empty string"):
        pair.importer.import_(package)
    assert pair.target_state() == before


# ---------------------------------------------------------------- permissions and ids


def test_export_needs_campaign_read_and_import_needs_campaign_write(memory_pair: Pair) -> None:
    source, target = memory_pair.source.kit, memory_pair.target
    draft = memory_pair.source.draft("Secret")
    source.access.assign("vic", ck.ProductProfile.VIEWER)
    target.access.assign("vic", ck.ProductProfile.VIEWER)
    target.access.assign("max", ck.ProductProfile.MANAGER)

    with pytest.raises(ck.PermissionDenied) as denied:
        source.as_user("nobody").export([draft.id])
    assert denied.value.permission == "campaign.read"

    package = json.loads(json.dumps(source.as_user("vic").export([draft.id])))  # a viewer may
    before = memory_pair.target_state()
    for user in ("vic", "nobody"):
        with pytest.raises(ck.PermissionDenied) as denied:
            target.as_user(user).import_(package)
        assert denied.value.permission == "campaign.write"
        with pytest.raises(ck.PermissionDenied):  # the policy comes before reading the package
            target.as_user(user).import_({"format": "garbage"})
    assert memory_pair.target_state() == before

    [copied] = target.as_user("max").import_(package)  # a manager may
    assert copied.created_by == "max"


def test_exporting_an_unknown_campaign_is_not_found(memory_pair: Pair) -> None:
    draft = memory_pair.source.draft("Known")
    with pytest.raises(ck.NotFound) as missing:
        memory_pair.ada.export([draft.id, "cmp_missing"])
    assert (missing.value.kind, missing.value.key) == ("campaign", "cmp_missing")
    with pytest.raises(ck.PermissionDenied):  # without read, existence is not revealed
        memory_pair.source.kit.as_user("nobody").export(["cmp_missing"])


def test_exporting_nothing_is_an_empty_package_that_imports_nothing(memory_pair: Pair) -> None:
    package = memory_pair.package()
    assert package == {
        "format": "campaignkit.package",
        "version": 1,
        "campaigns": [],
        "surfaces": {},
    }
    before = memory_pair.target_state()
    assert memory_pair.importer.import_(package) == []
    assert memory_pair.target_state() == before


SCHEDULING_TAMPERING: Final[dict[str, tuple[Callable[[dict[str, Any]], None], str]]] = {
    "rrule interval 0": (
        lambda v: v["schedule"].update(
            recurrence={"frequency": "RRULE", "rule": "FREQ=DAILY;INTERVAL=0"}
        ),
        "INTERVAL must be at least 1",
    ),
    "rrule garbage": (
        lambda v: v["schedule"].update(recurrence={"frequency": "RRULE", "rule": "FREQ=OFTEN"}),
        "is not valid",
    ),
    "daily every 0": (
        lambda v: v["schedule"].update(
            recurrence={"frequency": "DAILY", "at": "09:00", "every": 0}
        ),
        "every=0 must be at least 1",
    ),
    "daily at 25:00": (
        lambda v: v["schedule"].update(recurrence={"frequency": "DAILY", "at": "25:00"}),
        "must be HH:MM",
    ),
    "weekly without days": (
        lambda v: v["schedule"].update(recurrence={"frequency": "WEEKLY", "at": "09:00"}),
        "needs at least one weekday",
    ),
    "monthly day 40": (
        lambda v: v["schedule"].update(
            recurrence={"frequency": "MONTHLY", "at": "09:00", "day": 40}
        ),
        "monthly day 40 must be between 1 and 31",
    ),
    "one wave": (
        lambda v: v["schedule"].update(waves={"sizing": "equal", "sizes": [1], "every": 3600.0}),
        "1 waves; use 2 to 10",
    ),
    "waves a minute apart": (
        lambda v: v["schedule"].update(waves={"sizing": "equal", "sizes": [1, 1], "every": 60.0}),
        "at least 30 minutes apart",
    ),
    "percentages summing to 50": (
        lambda v: v["schedule"].update(
            waves={"sizing": "percentages", "sizes": [25, 25], "every": 3600.0}
        ),
        "percentages must total 100",
    ),
    "rate limit 0": (
        lambda v: v["actions"][0].update(rate_limit=0),
        "rate_limit=0 must be a whole number",
    ),
}


@pytest.mark.parametrize("tampering", list(SCHEDULING_TAMPERING), ids=str)
def test_hand_edited_scheduling_values_are_refused_on_import(
    memory_pair: Pair, tampering: str
) -> None:
    """A package edited by hand cannot smuggle in a schedule the builders refuse."""
    change, expected = SCHEDULING_TAMPERING[tampering]
    good = memory_pair.source.draft("Good")
    package = memory_pair.package(good.id)
    change(package["campaigns"][0]["data"]["draft_version"])
    before = memory_pair.target_state()
    [problem] = problems_of(lambda: memory_pair.importer.import_(package))
    assert expected in problem
    assert memory_pair.target_state() == before
