"""A careless or hostile caller of the Python surfaces added with the command line.

``copy_store``, ``CampaignKit.postgres``'s arguments and the notebook plots:
each test here failed before its fix (a raw ``AttributeError`` or
``UnicodeEncodeError``, a string taken for ``merge=True``, tables written
into ``information_schema``, a matplotlib warning on an empty report).
"""

from __future__ import annotations

import warnings
from typing import Any

import matplotlib
import pendulum
import pytest

import campaignkit as ck
from campaignkit.adapters import copy_store
from campaignkit.adapters.postgres.store import (
    MAX_CONNECT_TIMEOUT,
    MAX_POOL_SIZE,
    store_argument_problems,
)
from campaignkit.testing import ManualClock
from tests.unit.notebook_world import ran_world

matplotlib.use("Agg")

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")


def kit() -> ck.CampaignKit:
    return ck.CampaignKit.in_memory(clock=ManualClock(T0))


# ---------------------------------------------------------------- copy_store


@pytest.mark.parametrize("wrong", [None, "shop.db", 3, object()])
def test_copy_store_names_a_src_or_dst_that_is_not_a_kit(wrong: Any) -> None:
    # was: AttributeError: 'NoneType' object has no attribute 'store'
    with pytest.raises(ck.ValidationError, match="src must be a CampaignKit") as caught:
        copy_store(wrong, kit())
    assert caught.value.subject == "copy_store"
    with pytest.raises(ck.ValidationError, match="dst must be a CampaignKit"):
        copy_store(kit(), wrong)


def test_copy_store_refuses_a_merge_that_is_not_a_bool() -> None:
    # was: merge="no" was true, so a destination holding data was merged into
    dst = kit()
    dst.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    with pytest.raises(ck.ValidationError, match="merge must be True or False, not str 'no'"):
        copy_store(kit(), dst, merge="no")  # type: ignore[arg-type]


# ---------------------------------------------------------------- CampaignKit.postgres


def problems_of(**given: Any) -> list[str]:
    arguments: dict[str, Any] = {
        "dsn": "postgresql://db/shop",
        "schema": "campaignkit",
        "pool_size": 4,
        "connect_timeout": 10.0,
    }
    return store_argument_problems(**(arguments | given))


def test_a_schema_with_a_lone_surrogate_is_a_validation_error() -> None:
    # was: UnicodeEncodeError from schema.encode()
    [problem] = problems_of(schema="a\ud800")
    assert problem.startswith("schema must be a PostgreSQL schema name")


@pytest.mark.parametrize("schema", ["information_schema", "pg_catalog", "pg_mine", "pg_toast"])
def test_a_system_schema_is_refused_before_connecting(schema: str) -> None:
    # was: information_schema accepted (every table created in it); pg_* refused by the server
    [problem] = problems_of(schema=schema)
    assert f"{schema!r} is reserved" in problem


@pytest.mark.parametrize(
    "schema", ['x"; DROP SCHEMA public; --', "my schema", "MySchema", "é", "s" * 63, "PG_x"]
)
def test_any_other_schema_name_is_taken_literally(schema: str) -> None:
    assert problems_of(schema=schema) == []


def test_a_pool_or_a_timeout_beyond_reason_is_refused() -> None:
    # was: pool_size=10**9 and connect_timeout=1e300 accepted
    [pool] = problems_of(pool_size=MAX_POOL_SIZE + 1)
    assert "pool_size must be a whole number of connections from 1 to" in pool
    [timeout] = problems_of(connect_timeout=MAX_CONNECT_TIMEOUT + 1)
    assert "connect_timeout must be a number of seconds from 1 to" in timeout
    assert problems_of(pool_size=MAX_POOL_SIZE, connect_timeout=MAX_CONNECT_TIMEOUT) == []


def test_the_kit_reports_the_same_problems() -> None:
    with pytest.raises(ck.ValidationError, match="'information_schema' is reserved"):
        ck.CampaignKit.postgres("postgresql://db/shop", schema="information_schema")


# ---------------------------------------------------------------- notebook plots


@pytest.mark.parametrize("wrong", ["nope", 1, object()])
def test_a_plot_names_an_ax_that_is_not_matplotlib_axes(wrong: Any) -> None:
    # was: AttributeError: 'str' object has no attribute 'xaxis_date'
    ran = ran_world()
    with pytest.raises(ck.ValidationError, match="ax must be matplotlib Axes") as caught:
        ran.report.plot(ax=wrong)
    assert caught.value.subject == "report.plot()"
    calendar = ran.admin.calendar(T0, T0.add(days=3))
    with pytest.raises(ck.ValidationError, match="ax must be matplotlib Axes"):
        calendar.plot(ax=wrong)


def test_a_report_whose_runs_sent_nothing_plots_without_a_warning() -> None:
    # was: UserWarning: No artists with labels found to put in legend
    clock = ManualClock(T0)
    empty = ck.CampaignKit.in_memory(clock=clock)
    empty.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    empty.audiences.define("nobody", [])
    ada = empty.as_user("ada")
    news = ada.create_surface(
        name="News", channel=ck.ChannelType.EMAIL, settings=ck.EmailSettings(sender="n@example.com")
    )
    campaign = ada.create_campaign(
        name="Nobody",
        audience="nobody",
        namespace="email",
        actions=[ck.Action(news.id, ck.EmailContent(subject="Hi", html="<p>x</p>"))],
    )
    ada.activate(campaign.id)
    empty.run_until(clock.now().add(hours=1))
    report = ada.report(campaign.id)
    assert report.runs
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ax = report.plot()
    assert ax.get_legend() is None
    assert [t.get_text() for t in ax.texts] == ["no messages yet"]
