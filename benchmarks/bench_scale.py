"""Scale-out: one sharded run delivered by 1, 2 and 4 worker processes on PostgreSQL (issue 15).

A two-action campaign (email, SMS) to N profiles (default 20,000, ``argv[1]``
overrides; one in 50 without SMS consent) is delivered by 1, 2 and 4 worker
processes of the fault suite (``tests/distributed/harness.py``: each a
``CampaignKit.postgres`` on the system clock, shards of 1,000, batches of
250, looping ``kit.tick()``), sending to its provider process: a loopback
HTTP server that takes 20 ms per batch and fsyncs its record once per batch.
Each round seeds a fresh schema, starts the provider and the workers, waits
until every worker has its kit open, then activates the campaign; the time is
from the activation until the run is final (wall; the bench polls the run
every 20 ms). Rounds of 1, 2 and 4 workers are interleaved, ``argv[2]``
times (default 3: the ratios move by a few hundredths from one set of
rounds to the next); the best of each counts. ``argv[3]`` sets the batch
size (default 250: the provider's 20 ms are then 80 us a message).

Printed beside each: the PostgreSQL server's CPU seconds for this delivery,
read from /proc (``utime + stime`` of the server processes of the workers'
connections, found in ``pg_stat_activity`` by their ``application_name``,
before the activation and once the run is final; the workers end only once
the bench has read them), and its share of the machine's CPU capacity
(seconds / (wall x cores)); the same for the workers and the provider; and
the whole machine's busy share from /proc/stat (every process, other users'
included: on a shared machine, a busy share well above the two others says
the round was disturbed). Also printed: how long the planning took (the
audience frozen and split, by one worker, before any shard can start) and
the ratio the run would reach if everything after it scaled perfectly
(Amdahl's bound). Targets: 2 workers >= 1.8x one, 4 workers >= 2.8x one.

The server is ``CAMPAIGNKIT_BENCH_POSTGRES``, else ``CAMPAIGNKIT_TEST_POSTGRES``,
else ``postgresql://127.0.0.1:5432/test``; without psycopg or a server it
prints one line saying so and exits 0. ``nox -s bench -- scale``.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Final, NamedTuple

ROOT: Final = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the fault suite's provider and workers

from tests.distributed import harness  # noqa: E402

import campaignkit as ck  # noqa: E402

N: Final = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
ROUNDS: Final = int(sys.argv[2]) if len(sys.argv) > 2 else 3
WORKERS: Final = (1, 2, 4)
TARGETS: Final = {2: 1.8, 4: 2.8}
LEASE: Final = 10.0
BATCH: Final = int(sys.argv[3]) if len(sys.argv) > 3 else 250
SHARD: Final = 1_000
SEED: Final = 15
DSN: Final = (
    os.environ.get("CAMPAIGNKIT_BENCH_POSTGRES")
    or os.environ.get("CAMPAIGNKIT_TEST_POSTGRES")
    or "postgresql://127.0.0.1:5432/test"
)
TICKS: Final = os.sysconf("SC_CLK_TCK")
CORES: Final = os.cpu_count() or 1


class Round(NamedTuple):
    """One delivery: wall seconds (until shards are planned, until the run ends), CPU seconds.

    The clients are the workers and the provider; ``busy`` is the share of the
    machine's CPU every process used meanwhile (others' included).
    """

    wall: float
    planning: float
    server_cpu: float
    client_cpu: float
    busy: float


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


def drop_schema(schema: str) -> None:
    """``DROP SCHEMA ... CASCADE`` (a round's schema)."""
    import psycopg  # noqa: PLC0415
    from psycopg import sql  # noqa: PLC0415

    with psycopg.connect(DSN, autocommit=True) as connection:
        drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        connection.execute(drop)


def cpu_of(pids: Iterable[int]) -> float:
    """CPU seconds (``utime + stime``) of the live processes among ``pids``."""
    ticks = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:  # ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks += int(fields[11]) + int(fields[12])  # stat's fields 14 and 15
    return ticks / TICKS


def backends(dsn: str, tag: str) -> set[int]:
    """The server processes of the connections named ``tag`` (``application_name``)."""
    import psycopg  # noqa: PLC0415  (an optional dependency)

    with psycopg.connect(dsn, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (tag,)
        ).fetchall()
    return {int(row[0]) for row in rows}


def machine_busy() -> tuple[int, int]:
    """Busy and total jiffies of every core since boot (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def deliver(workers: int, directory: Path) -> Round:
    """Seed a fresh schema and deliver its campaign with ``workers`` processes."""
    schema = f"ck_bench_{uuid.uuid4().hex[:10]}"
    tag = f"{schema}_workers"  # the workers' connections, to find their server processes
    dsn = f"{DSN}{'&' if '?' in DSN else '?'}application_name={tag}"
    try:
        seeded = harness.seed_schema(DSN, schema, N, SEED)
        with harness.processes(
            directory,
            dsn,
            schema,
            lease=LEASE,
            batch_size=BATCH,
            shard_size=SHARD,
            deadline=600,
        ) as group:
            release = directory / "release"  # the workers end once it exists
            started = [group.start_worker(seeded.campaign_id, release) for _ in range(workers)]
            for process in started:
                group.worker_id(process)  # its kit is open
            provider = group.provider
            assert provider is not None
            with ck.CampaignKit.postgres(DSN, schema=schema, clock=ck.SystemClock()) as kit:
                planned: list[float] = []

                def final() -> bool:
                    run = harness.find_run(kit, seeded.campaign_id)
                    if run is not None and not planned and kit.shards(run.id):
                        planned.append(time.monotonic() - at)
                    return run is not None and run.status.is_final

                clients = [provider.pid, *(p.pid for p in started)]
                servers = backends(DSN, tag)
                server_before, client_before = cpu_of(servers), cpu_of(clients)
                busy_before, total_before = machine_busy()
                at = time.monotonic()
                harness.activate(DSN, schema, seeded.campaign_id)
                harness.wait_until(final, 600, provider, "the run ends")  # polled every 20 ms
                wall = time.monotonic() - at
                busy_after, total_after = machine_busy()
                servers |= backends(DSN, tag)
                server_cpu = cpu_of(servers) - server_before
                client_cpu = cpu_of(clients) - client_before
                run = harness.find_run(kit, seeded.campaign_id)
            release.touch()
            group.finish(60)
        assert run is not None
        assert run.status is ck.RunStatus.SUCCEEDED, run
        busy = (busy_after - busy_before) / max(1, total_after - total_before)
        return Round(wall, planned[0], server_cpu, client_cpu, busy)
    finally:
        drop_schema(schema)


def main() -> None:
    """Measure, print each round count's best, the ratios and their targets."""
    problem = server_problem()
    if problem is not None:
        print(f"bench_scale: skipped, no PostgreSQL at {DSN} ({problem})")
        return
    print(
        f"scale-out: {N:,} profiles x 2 actions, shards of {SHARD:,}, batches of {BATCH}, "
        f"provider 20 ms a batch; best of {ROUNDS}; {CORES} cores"
    )
    best: dict[int, Round] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for number in range(ROUNDS):
            for workers in WORKERS:
                directory = Path(scratch, f"{workers}-{number}")
                directory.mkdir()
                measured = deliver(workers, directory)
                if workers not in best or measured.wall < best[workers].wall:
                    best[workers] = measured
    met = True
    for workers in WORKERS:
        measured = best[workers]
        capacity = measured.wall * CORES
        share = measured.server_cpu / capacity
        clients = measured.client_cpu / capacity
        line = (
            f"{workers} worker{'s' if workers > 1 else ' '}: {measured.wall:6.2f} s wall "
            f"({measured.planning:4.2f} s until shards are planned), "
            f"{N / measured.wall:7,.0f} profiles/s; PostgreSQL {measured.server_cpu:5.2f} s CPU "
            f"({share:4.0%} of the machine), workers + provider {measured.client_cpu:5.2f} s "
            f"({clients:4.0%}), machine busy {measured.busy:4.0%}"
        )
        if workers in TARGETS:
            ratio = best[1].wall / measured.wall
            serial = best[1].planning  # before the shards exist, one worker works alone
            bound = best[1].wall / (serial + (best[1].wall - serial) / workers)
            line += (
                f"; {ratio:.2f}x one worker (target >= {TARGETS[workers]}; "
                f"{bound:.2f}x if all but the planning scaled perfectly)"
            )
            met = met and ratio >= TARGETS[workers]
        print(line)
    if met:
        print("all targets met")


if __name__ == "__main__":
    main()
