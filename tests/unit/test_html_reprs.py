"""HTML reprs for notebooks, parsed back with html.parser: the fields are there, text is escaped."""

from __future__ import annotations

from html.parser import HTMLParser

import attrs
import pendulum

import campaignkit as ck
from campaignkit.domain import html_views
from tests.factories import T0, make_world
from tests.unit.notebook_world import ran_world

NASTY = "<script>alert('x')</script> & co"


class Tables(HTMLParser):
    """Collects titles (``<b>``), tables and their rows of cell texts, and every tag seen."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.titles: list[str] = []
        self.tables: list[list[list[str]]] = []
        self.classes: list[str] = []
        self.tags: set[str] = set()
        self._text: list[str] | None = None
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "table":
            self.tables.append([])
            self.classes.append(dict(attrs).get("class") or "")
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th", "b"):
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._text is not None:
            self.tables[-1][-1].append("".join(self._text))
            self._text = None
        elif tag == "b" and self._text is not None:
            self.titles.append("".join(self._text))
            self._text = None

    def handle_data(self, data: str) -> None:
        if self._text is not None:
            self._text.append(data)

    def table(self, css: str) -> list[list[str]]:
        return self.tables[self.classes.index(css)]

    def fields(self, css: str) -> dict[str, str]:
        return {row[0]: row[1] for row in self.table(css)}


def test_campaign_html_shows_status_type_versions_schedule_and_history() -> None:
    ran = ran_world()
    parsed = Tables(ran.campaign._repr_html_())
    assert parsed.titles[0] == "Winter sale"
    facts = parsed.fields("campaignkit-campaign")
    assert facts["id"] == "cmp_0001"
    assert facts["status"] == "LIVE"
    assert facts["type"] == "SCHEDULED"
    assert facts["category"] == "MARKETING"
    assert facts["created"] == "2026-12-01T09:00Z by ada"
    assert facts["next"] == "2026-12-03T10:00Z"
    versions = parsed.table("campaignkit-versions")
    assert versions[0] == ["", "number", "created", "by", "actions", "audience", "schedule"]
    assert versions[1] == [
        "live",
        "1",
        "2026-12-01T09:00Z",
        "ada",
        "1 (email)",
        "vip",
        "starts 2026-12-01T10:00Z, daily at 10:00, ends 2026-12-11T09:00Z, UTC",
    ]
    history = parsed.table("campaignkit-history")
    assert history[0] == ["at", "actor", "action", "from", "to", "detail"]
    assert [row[2] for row in history[1:]] == ["create", "activate", "prepare", "go_live"]
    assert history[1][3] == ""  # no status before creation
    assert history[-1][3:5] == ["SCHEDULED", "LIVE"]


def test_campaign_html_lists_draft_and_superseded_versions() -> None:
    ran = ran_world()
    campaign = ran.campaign
    live = campaign.live_version
    assert live is not None
    older = attrs.evolve(
        campaign,
        live_version=attrs.evolve(live, number=3),
        draft_version=attrs.evolve(live, number=4),
        superseded_versions=(live, attrs.evolve(live, number=2)),
    )
    rows = Tables(older._repr_html_()).table("campaignkit-versions")
    numbers = [(row[0], row[1]) for row in rows[1:]]
    assert numbers == [("live", "3"), ("draft", "4"), ("superseded", "2"), ("superseded", "1")]


def test_every_html_repr_escapes_the_text_it_shows() -> None:
    ran = ran_world(name=NASTY)
    history = (ck.ApprovalEntry(T0, "<b>eve</b>", ck.ApprovalAction.REQUESTED, 1, "p<1>", NASTY),)
    pages = [
        ran.campaign._repr_html_(),
        ran.admin.list_campaigns()._repr_html_(),
        ran.report._repr_html_(),
        ran.admin.calendar(T0, T0.add(days=3))._repr_html_(),
        ck.ApprovalHistory(history)._repr_html_(),
    ]
    for page in pages:
        assert page is not None
        assert "<script>" not in page
        parsed = Tables(page)
        assert "script" not in parsed.tags
        assert parsed.tags <= {"div", "b", "table", "thead", "tbody", "tr", "th", "td"}
        assert NASTY in parsed.titles or any(
            NASTY in cell for table in parsed.tables for row in table for cell in row
        )
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in str(pages[0])


def test_page_html_has_a_row_per_campaign_and_says_whether_more_follow() -> None:
    world = make_world()
    for n in range(3):
        world.draft(f"Campaign {n}", tags=["spring"])
    page = world.admin.list_campaigns(limit=2)
    parsed = Tables(page._repr_html_() or "")
    assert parsed.titles == ["2 campaign(s)"]
    rows = parsed.table("campaignkit-page")
    assert rows[0] == ["id", "name", "status", "type", "channels", "created", "next"]
    assert rows[1] == [
        "cmp_0003",
        "Campaign 2",
        "DRAFT",
        "SCHEDULED",
        "email",
        "2026-12-01T09:00Z",
        "",
    ]
    assert "(more: pass next_cursor)" in (page._repr_html_() or "")
    last = world.admin.list_campaigns(cursor=page.next_cursor)
    assert "(last page)" in (last._repr_html_() or "")


def test_a_page_of_other_values_has_no_html() -> None:
    assert ck.Page(("a", "b"))._repr_html_() is None
    assert ck.Page(())._repr_html_() is not None  # an empty page is an empty campaign table


def test_report_html_has_counts_per_action_and_per_run() -> None:
    ran = ran_world()
    parsed = Tables(ran.report._repr_html_())
    assert parsed.titles[0] == "Winter sale"
    per_action = parsed.table("campaignkit-report")
    assert per_action[0] == ["action", *html_views.COUNT_HEADERS]
    assert per_action[1] == ["act_0001", "4", "2", "0", "2 (no_consent: 2)", "0", "0"]
    assert per_action[2][0] == "total"
    runs = parsed.table("campaignkit-runs")
    assert runs[0][:6] == ["run", "kind", "version", "status", "created", "finished"]
    assert runs[1][:6] == [
        "run_0001",
        "occurrence",
        "1",
        "succeeded",
        "2026-12-01T10:00Z",
        "2026-12-01T10:00Z",
    ]
    assert len(runs) == 3


def test_run_html_shows_fields_and_counts_per_action() -> None:
    run = ran_world().runs[0]
    parsed = Tables(run._repr_html_())
    assert parsed.titles == ["Run run_0001"]
    facts = parsed.fields("campaignkit-run")
    assert facts["campaign"] == "cmp_0001"
    assert facts["kind"] == "occurrence"
    assert facts["status"] == "succeeded"
    assert facts["nominal"] == "2026-12-01T10:00Z"
    assert facts["error"] == ""
    counts = parsed.table("campaignkit-counts")
    assert counts[1] == ["act_0001", "2", "1", "0", "1 (no_consent: 1)", "0", "0"]
    assert counts[2] == ["total", "2", "1", "0", "1 (no_consent: 1)", "0", "0"]


def test_calendar_is_still_the_list_it_was_and_shows_a_table() -> None:
    ran = ran_world()
    calendar = ran.admin.calendar(T0.add(days=2), T0.add(days=5))
    assert isinstance(calendar, list)
    assert calendar == list(calendar)
    assert len(calendar) == 3
    assert calendar[0].at == pendulum.datetime(2026, 12, 3, 10, tz="UTC")
    assert calendar.span == (T0.add(days=2), T0.add(days=5))
    parsed = Tables(calendar._repr_html_())
    assert parsed.titles == ["3 calendar entries"]
    rows = parsed.table("campaignkit-calendar")
    assert rows[0] == ["at", "until", "campaign", "name", "status"]
    assert rows[1] == ["2026-12-03T10:00Z", "2026-12-11T09:00Z", "cmp_0001", "Winter sale", "LIVE"]
    assert "(2026-12-03T09:00Z to 2026-12-06T09:00Z)" in calendar._repr_html_()
    one = ck.Calendar(calendar[:1])
    assert one.span is None
    assert Tables(one._repr_html_()).titles == ["1 calendar entry"]


def test_approval_history_is_still_a_tuple_and_shows_a_table() -> None:
    ran = ran_world()
    history = ran.admin.approval_history(ran.campaign.id)
    assert isinstance(history, tuple)
    assert history == ran.campaign.approvals
    parsed = Tables(history._repr_html_())
    assert parsed.titles == ["Approval history: 1 entry"]
    rows = parsed.table("campaignkit-approvals")
    assert rows[0] == ["at", "actor", "action", "version", "policy", "message"]
    assert rows[1] == ["2026-12-01T09:00Z", "ada", "activated_without_policy", "1", "", "first run"]
    assert Tables(ck.ApprovalHistory()._repr_html_()).titles == ["Approval history: 0 entries"]


def test_long_tables_are_cut_with_a_count_of_the_rest() -> None:
    rows = [(n,) for n in range(html_views.MAX_ROWS + 3)]
    parsed = Tables(html_views.table(("n",), rows, css="t"))
    body = parsed.table("t")
    assert len(body) == 1 + html_views.MAX_ROWS + 1
    assert body[-1] == ["... 3 more rows"]
