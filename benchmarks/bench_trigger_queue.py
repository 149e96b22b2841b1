"""What queuing API triggers on procrastinate costs (issue 15, point 4).

Two PostgreSQL kits in fresh schemas, one with a ``TriggerQueue``, each with
a LIVE transactional trigger campaign on a null channel:

- accept: ``trigger()`` of one new recipient, N times (default 500,
  ``argv[1]`` overrides) after 20 warm-up calls; the median wall time per
  call with and without the job insert (``procrastinate_defer_jobs_v1`` in
  the same transaction);
- deliver: those N triggers delivered, by one ``tick()`` on the kit without
  the queue and by one in-process procrastinate worker
  (``run_worker(wait=False)``, one job after the other) on the kit with it;
  triggers delivered per second of wall time.

Information only (no target). The server is ``CAMPAIGNKIT_BENCH_POSTGRES``,
else ``CAMPAIGNKIT_TEST_POSTGRES``, else ``postgresql://127.0.0.1:5432/test``;
both schemas are dropped at the end. Without procrastinate, psycopg or a
server it prints one line saying so and exits 0.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable

import pendulum

import campaignkit as ck
from campaignkit.testing import ManualClock, NullChannel

N = int(sys.argv[1]) if len(sys.argv) > 1 else 500
WARM_UP = 20
DSN = (
    os.environ.get("CAMPAIGNKIT_BENCH_POSTGRES")
    or os.environ.get("CAMPAIGNKIT_TEST_POSTGRES")
    or "postgresql://127.0.0.1:5432/test"
)
T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")


def problem() -> str | None:
    """None if procrastinate and psycopg are installed and a server answers, else why not."""
    try:
        import procrastinate  # noqa: F401, PLC0415
        import psycopg  # noqa: PLC0415
    except ImportError as exc:
        return f"{exc.name} is not installed (pip install -e '.[queue]')"
    try:
        with psycopg.connect(DSN, connect_timeout=2, autocommit=True) as connection:
            connection.execute("SELECT 1")
    except psycopg.Error as exc:
        return " ".join(str(exc).split()) or type(exc).__name__
    return None


def drop(schema: str) -> None:
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    with psycopg.connect(DSN, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )


def setup(schema: str) -> tuple[ck.CampaignKit, Callable[[str], None]]:
    """A kit with a LIVE reset campaign, and a function triggering it for one user."""
    kit = ck.CampaignKit.postgres(
        DSN, ManualClock(T0), {ck.ChannelType.EMAIL: NullChannel()}, schema=schema
    )
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    admin = kit.as_user("ada")
    surface = admin.create_surface(
        name="Reset",
        channel=ck.ChannelType.EMAIL,
        settings=ck.EmailSettings(sender="no-reply@example.com"),
        category=ck.Category.TRANSACTIONAL,
    )
    campaign = admin.create_campaign(
        name="Reset",
        type=ck.CampaignType.API_TRIGGERED,
        category=ck.Category.TRANSACTIONAL,
        namespace="email",
        create_profiles=True,
        actions=[ck.Action(surface.id, ck.EmailContent(subject="Reset", html="{{ context.x }}"))],
    )
    admin.activate(campaign.id)
    kit.tick()

    def trigger(user: str) -> None:
        recipient = ck.Recipient(user_id=user, namespace="email", context={"x": "1"})
        admin.trigger(campaign.id, [recipient], request_id=user)

    return kit, trigger


def accept(trigger: Callable[[str], None], prefix: str) -> float:
    """Median seconds of one ``trigger()`` over N calls (after the warm-up)."""
    for number in range(WARM_UP):
        trigger(f"warm{number}-{prefix}@example.com")
    times = []
    for number in range(N):
        start = time.perf_counter()
        trigger(f"u{number}-{prefix}@example.com")
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    reason = problem()
    if reason is not None:
        print(f"bench_trigger_queue: skipped: {reason}")
        return
    from campaignkit.queue import TriggerQueue  # noqa: PLC0415

    plain_schema, queued_schema = (f"ck_bench_{uuid.uuid4().hex[:10]}" for _ in range(2))
    try:
        plain, plain_trigger = setup(plain_schema)
        queued, queued_trigger = setup(queued_schema)
        queue = TriggerQueue(queued, stalled_cron=None)
        try:
            without = accept(plain_trigger, "p")
            with_queue = accept(queued_trigger, "q")
            start = time.perf_counter()
            plain.tick()
            ticked = time.perf_counter() - start
            start = time.perf_counter()
            queue.run_worker(wait=False, install_signal_handlers=False, listen_notify=False)
            worked = time.perf_counter() - start
        finally:
            plain.close()
            queued.close()
    finally:
        drop(plain_schema)
        drop(queued_schema)
    total = N + WARM_UP
    print(f"API triggers on PostgreSQL, {N} accepted one by one (median of one call):")
    print(f"  accept without the queue   {without * 1e3:7.2f} ms")
    print(
        f"  accept with the job insert {with_queue * 1e3:7.2f} ms "
        f"(+{(with_queue - without) * 1e3:.2f} ms)"
    )
    print(f"delivering all {total} (one process, wall):")
    print(f"  one tick                   {total / ticked:7.0f} triggers/s")
    print(f"  one procrastinate worker   {total / worked:7.0f} triggers/s")


if __name__ == "__main__":
    main()
