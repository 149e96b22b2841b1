"""Listing 100,000 campaigns in SQLite: one page with the default filter and a tag.

The listing SQL walks an index newest-first and stops after one page, so a
page costs about the same whatever the table size. Prints milliseconds per
page (target: well under 50 ms) and the ratio against 1,000 campaigns
measured in the same run. Run with ``nox -s bench``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import campaignkit as ck
from campaignkit.domain.listing import CampaignQuery
from campaignkit.testing.factories import EPOCH, make_campaign

STATUSES = list(ck.CampaignStatus)


def fill(path: Path, total: int) -> ck.SQLiteStore:
    store = ck.SQLiteStore(path)
    with store.unit_of_work() as uow:
        for i in range(total):
            tags = ("promo",) if i % 10 == 0 else ("news",)
            uow.campaigns.add(
                make_campaign(
                    f"c{i:07d}",
                    name=f"Campaign {i}",
                    status=STATUSES[i % len(STATUSES)],
                    created_at=EPOCH.add(seconds=i),
                    tags=tags,
                )
            )
    return store


def page_ms(store: ck.SQLiteStore, query: CampaignQuery, repeat: int = 20) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        with store.unit_of_work() as uow:
            page = uow.campaigns.query(query)
        best = min(best, time.perf_counter() - started)
        assert len(page) > 0
    return best * 1000


def measure(total: int, folder: Path) -> dict[str, float]:
    store = fill(folder / f"bench-{total}.db", total)
    with store.unit_of_work() as uow:
        middle = uow.campaigns.query(CampaignQuery(limit=500))
    queries = {
        "default filter": CampaignQuery(),
        "tag 'promo'": CampaignQuery(tag="promo"),
        "default filter, page 11": CampaignQuery(cursor=middle.next_cursor),
        "search 'campaign 9'": CampaignQuery(statuses=ck.ALL_STATUSES, search="campaign 9"),
    }
    results = {name: page_ms(store, query) for name, query in queries.items()}
    store.close()
    return results


def main() -> None:
    with tempfile.TemporaryDirectory() as folder:
        small = measure(1_000, Path(folder))
        large = measure(100_000, Path(folder))
    for name in small:
        print(
            f"SQLite page of 50, {name:<24} 1k: {small[name]:6.2f} ms   "
            f"100k: {large[name]:6.2f} ms (target < 50)   "
            f"ratio {large[name] / small[name]:.2f} (information)"
        )


if __name__ == "__main__":
    main()
