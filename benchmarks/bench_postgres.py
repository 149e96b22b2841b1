"""The PostgreSQL store against the SQLite store, side by side in one run (issue 14).

Three measurements, each on both stores in the same run:

- fan-out: the tick that delivers a whole run of N recipients (default
  50,000, ``argv[1]`` overrides) on a null channel, with exactly the audience,
  subject and settings of ``bench_delivery.py``'s SQLite kit (its helpers are
  reused), each round on a fresh SQLite file or a fresh PostgreSQL schema,
  rounds interleaved, best of 2. The ratio is of recipients per second of
  WALL time: PostgreSQL works in its own server process, whose CPU time the
  client's ``process_time`` does not see, so only wall time compares the two
  (CPU time of this process printed beside, in brackets). Target: PostgreSQL
  / SQLite >= 0.5.
- listing: ``CampaignQuery()`` (the default filter, 50 a page) first page
  and page 100 (reached with the cursors of pages 1-99) with 100,000
  campaigns, best of 20 each, on both stores; target: page 100 / page 1 <= 2
  on each store. A case-insensitive search for a rare name
  and a tag filter are printed for information. The campaigns are written
  into SQLite through the store's repositories (``uow.campaigns.add``) in
  units of 10,000, and the same rows copied into PostgreSQL with ``COPY``
  (then ``ANALYZE``), outside the timed part.
- a durable trigger's latency: ``bench_trigger.py``'s round (``trigger()`` of
  one recipient and the ``tick()`` that delivers it), the median of ROUNDS
  rounds after 20 warm-up rounds, on both stores; information.

The server is ``CAMPAIGNKIT_BENCH_POSTGRES`` (a libpq DSN), else
``CAMPAIGNKIT_TEST_POSTGRES``, else ``postgresql://127.0.0.1:5432/test``;
every schema the script makes is dropped at the end. Without psycopg or a
server it prints one line saying so and exits 0. Run with
``nox -s bench -- postgres`` (needs ``pip install -e '.[postgres]'`` in the
session) or ``python benchmarks/bench_postgres.py [N] [rounds] [campaigns]``.
"""

from __future__ import annotations

import gc
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

N = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 200
FANOUT_ROUNDS = 2
CAMPAIGNS = int(sys.argv[3]) if len(sys.argv) > 3 else 100_000
FILL_UNIT = 10_000
PAGE_REPEAT = 20
FANOUT_TARGET = 0.5
PAGE_TARGET = 2.0
DSN = (
    os.environ.get("CAMPAIGNKIT_BENCH_POSTGRES")
    or os.environ.get("CAMPAIGNKIT_TEST_POSTGRES")
    or "postgresql://127.0.0.1:5432/test"
)

import bench_delivery  # noqa: E402  (reads argv[1] as its N: set again below)
import bench_trigger  # noqa: E402

import campaignkit as ck  # noqa: E402
from campaignkit.domain.listing import CampaignQuery  # noqa: E402
from campaignkit.testing import ManualClock, NullChannel, SequentialIds  # noqa: E402
from campaignkit.testing.factories import EPOCH, make_campaign  # noqa: E402

bench_delivery.N = N
Seconds = tuple[float, float]
"""CPU and wall seconds."""


class Listing(Protocol):
    """What the listing measurement needs of a store (SQLite's or PostgreSQL's)."""

    def unit_of_work(self) -> Any: ...

    def close(self) -> None: ...


def server_problem() -> str | None:
    """None if psycopg is installed and a server answers at ``DSN``, else why not."""
    try:
        import psycopg  # noqa: PLC0415  (an optional dependency)
    except ImportError:
        return "psycopg is not installed (pip install -e '.[postgres]')"
    try:
        with psycopg.connect(DSN, connect_timeout=2, autocommit=True) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


class Schemas:
    """Fresh schema names for this run, all dropped by :meth:`drop_all`."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def new(self) -> str:
        name = f"ck_bench_{uuid.uuid4().hex[:10]}"
        self.names.append(name)
        return name

    def drop(self, name: str) -> None:
        import psycopg  # noqa: PLC0415
        from psycopg import sql  # noqa: PLC0415

        with psycopg.connect(DSN, autocommit=True) as connection:
            connection.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name))
            )

    def drop_all(self) -> None:
        for name in self.names:
            self.drop(name)


# -- fan-out -------------------------------------------------------------------------------


def fanout(schemas: Schemas, folder: Path) -> dict[str, Seconds]:
    people = bench_delivery.profiles()
    channels: dict[ck.ChannelType, ck.Channel] = {c: NullChannel() for c in ck.ChannelType}
    times: dict[str, list[Seconds]] = {"sqlite": [], "postgres": []}
    for round_number in range(FANOUT_ROUNDS):
        path = folder / f"fanout-{round_number}.db"
        times["sqlite"].append(
            bench_delivery.kit_run(bench_delivery.sqlite_kit(path, channels), people)
        )
        schema = schemas.new()

        def make(clock: ManualClock, schema: str = schema) -> ck.CampaignKit:
            return ck.CampaignKit.postgres(DSN, clock, channels, schema=schema, ids=SequentialIds())

        times["postgres"].append(bench_delivery.kit_run(make, people))
        schemas.drop(schema)
    return {
        name: (min(cpu for cpu, _ in runs), min(wall for _, wall in runs))
        for name, runs in times.items()
    }


# -- listing -------------------------------------------------------------------------------


def fill(store: Listing) -> None:
    """``CAMPAIGNS`` campaigns, a tenth tagged 'promo', in units of ``FILL_UNIT``."""
    statuses = list(ck.CampaignStatus)
    for start in range(0, CAMPAIGNS, FILL_UNIT):
        with store.unit_of_work() as uow:
            for i in range(start, min(start + FILL_UNIT, CAMPAIGNS)):
                uow.campaigns.add(
                    make_campaign(
                        f"c{i:07d}",
                        name=f"Campaign {i}",
                        status=statuses[i % len(statuses)],
                        created_at=EPOCH.add(seconds=i),
                        tags=("promo",) if i % 10 == 0 else ("news",),
                    )
                )


LISTING_TABLES = ("campaigns", "campaign_tags", "campaign_channels", "campaign_surfaces")
"""The tables a campaign's ``add`` writes (same names and columns in both stores)."""


def copy_rows(source: Path, schema: str) -> None:
    """Copy the listing tables of a filled SQLite file into a PostgreSQL schema, with COPY.

    The same rows ``uow.campaigns.add`` writes (the stores share their
    tables' columns), without its ~8 round trips per campaign (100,000 adds
    through the repositories took about 90 s here); then ``ANALYZE``, as
    autovacuum would after such a load.
    """
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    lite = sqlite3.connect(source)
    with psycopg.connect(DSN, autocommit=True) as connection:
        connection.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        for table in LISTING_TABLES:
            cursor = lite.execute(f"SELECT * FROM {table}")
            columns = sql.SQL(", ").join(sql.Identifier(d[0]) for d in cursor.description)
            statement = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), columns)
            with connection.cursor().copy(statement) as copy:
                for row in cursor:
                    copy.write_row(row)
            connection.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(table)))
    lite.close()


def page_ms(store: Listing, query: CampaignQuery) -> float:
    """The fastest of ``PAGE_REPEAT`` reads of one page, in milliseconds."""
    best = float("inf")
    for _ in range(PAGE_REPEAT):
        started = time.perf_counter()
        with store.unit_of_work() as uow:
            page = uow.campaigns.query(query)
        best = min(best, time.perf_counter() - started)
        assert len(page) > 0
    return best * 1000


def page_queries(store: Listing) -> dict[str, CampaignQuery]:
    cursor: str | None = None
    for _ in range(99):
        with store.unit_of_work() as uow:
            cursor = uow.campaigns.query(CampaignQuery(cursor=cursor)).next_cursor
        assert cursor is not None
    return {
        "page 1": CampaignQuery(),
        "page 100": CampaignQuery(cursor=cursor),
        "tag 'promo', page 1": CampaignQuery(tag="promo"),
        f"search 'campaign {CAMPAIGNS - 1}'": CampaignQuery(
            statuses=ck.ALL_STATUSES, search=f"campaign {CAMPAIGNS - 1}"
        ),
        "search 'campaign 9'": CampaignQuery(statuses=ck.ALL_STATUSES, search="campaign 9"),
    }


def listing(store: Listing, load: Callable[[], None]) -> tuple[float, dict[str, float]]:
    """Seconds to ``load`` the campaigns, and milliseconds per page of each query."""
    started = time.perf_counter()
    load()
    filled = time.perf_counter() - started
    results = {name: page_ms(store, query) for name, query in page_queries(store).items()}
    store.close()
    return filled, results


# -- trigger -------------------------------------------------------------------------------


def trigger_median(kit: ck.CampaignKit) -> Seconds:
    triggers = bench_trigger.Triggers(kit)
    bench_trigger.median_of(bench_trigger.WARMUP, triggers.one)
    gc.collect()
    result = bench_trigger.median_of(ROUNDS, triggers.one)
    triggers.close()
    return result


# -- report --------------------------------------------------------------------------------


@contextmanager
def schemas_dropped() -> Iterator[Schemas]:
    schemas = Schemas()
    try:
        yield schemas
    finally:
        schemas.drop_all()


def main() -> None:
    problem = server_problem()
    if problem is not None:
        print(
            f"PostgreSQL benchmarks skipped: no server at {DSN} ({problem}); "
            "set CAMPAIGNKIT_BENCH_POSTGRES=postgresql://... to run them"
        )
        return
    from campaignkit.adapters.postgres import PostgresStore  # noqa: PLC0415  (needs psycopg)

    bench_trigger.ROUNDS = ROUNDS
    channels: dict[ck.ChannelType, ck.Channel] = {c: NullChannel() for c in ck.ChannelType}
    with tempfile.TemporaryDirectory() as folder, schemas_dropped() as schemas:
        fan = fanout(schemas, Path(folder))
        lite = ck.SQLiteStore(Path(folder) / "listing.db")
        sqlite_list = listing(lite, lambda: fill(lite))
        schema = schemas.new()
        postgres_list = listing(
            PostgresStore(DSN, schema=schema),
            lambda: copy_rows(Path(folder) / "listing.db", schema),
        )
        sqlite_trigger = trigger_median(
            ck.CampaignKit.sqlite(
                Path(folder) / "trigger.db", ManualClock(bench_trigger.T0), channels
            )
        )
        postgres_trigger = trigger_median(
            ck.CampaignKit.postgres(
                DSN, ManualClock(bench_trigger.T0), channels, schema=schemas.new()
            )
        )
    met = report(
        fan, {"sqlite": sqlite_list, "postgres": postgres_list}, sqlite_trigger, postgres_trigger
    )
    print(f"all targets met: {'yes' if met else 'no'}")


def report(
    fan: dict[str, Seconds],
    lists: dict[str, tuple[float, dict[str, float]]],
    sqlite_trigger: Seconds,
    postgres_trigger: Seconds,
) -> bool:
    print(
        f"fan-out of {N:,} recipients, best of {FANOUT_ROUNDS}; ratio of wall time "
        "(PostgreSQL works in its server process), this process's CPU time in brackets"
    )
    for name, (cpu, wall) in fan.items():
        print(
            f"{name:>9}: {N / wall:10,.0f} recipients/s  {wall / N * 1e6:8.2f} us/recipient wall  "
            f"[{cpu / N * 1e6:8.2f} us CPU]"
        )
    ratio = fan["sqlite"][1] / fan["postgres"][1]
    met = ratio >= FANOUT_TARGET
    print(
        f"fan-out PostgreSQL / SQLite: {ratio:.2f} "
        f"[{fan['sqlite'][0] / fan['postgres'][0]:.2f}] (target >= {FANOUT_TARGET})"
    )
    print(f"listing {CAMPAIGNS:,} campaigns, 50 a page, best of {PAGE_REPEAT} (ms)")
    for name, (filled, pages) in lists.items():
        print(
            f"{name:>9}: filled in {filled:6.1f} s; "
            + "; ".join(f"{query} {ms:.2f}" for query, ms in pages.items())
        )
    for name, (_, pages) in lists.items():
        deep = pages["page 100"] / pages["page 1"]
        met = met and deep <= PAGE_TARGET
        print(f"listing page 100 / page 1 ({name}): {deep:.2f} (target <= {PAGE_TARGET})")
    print(
        f"durable trigger + tick, median of {ROUNDS}: SQLite {sqlite_trigger[1] * 1e6:.0f} us "
        f"[{sqlite_trigger[0] * 1e6:.0f} us CPU], PostgreSQL {postgres_trigger[1] * 1e6:.0f} us "
        f"[{postgres_trigger[0] * 1e6:.0f} us CPU]; PostgreSQL / SQLite "
        f"{postgres_trigger[1] / sqlite_trigger[1]:.2f} (information)"
    )
    return met


if __name__ == "__main__":
    main()
