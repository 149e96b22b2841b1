"""Delivery fan-out rate against a floor and a naive hand-written loop, in one run.

- floor: ``out.append(template.format_map(profile.attributes))`` per profile;
- naive: one Jinja2 sandboxed template compiled once, then per recipient
  ``render(profile=...)`` and one channel call per message;
- campaignkit in memory: a whole run (decide, render, ledger, channel) on a
  null channel with a one-line personalized template;
- campaignkit on SQLite: the same with the durable ledger in a file.

Targets (issue 5): in-memory rate >= 25 % of the floor and >= 3x the naive
loop; SQLite rate >= 0.3x the in-memory rate. Run with ``nox -s bench``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pendulum
from jinja2.sandbox import ImmutableSandboxedEnvironment

import campaignkit as ck
from campaignkit.testing import ManualClock, NullChannel, SequentialIds

N = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")


def profiles() -> list[ck.Profile]:
    return [
        ck.Profile(
            id=f"p{i:07d}",
            identities={"email": f"user{i}@example.com"},
            attributes={"firstName": f"User{i}"},
            consents={ck.ChannelType.EMAIL: True},
        )
        for i in range(N)
    ]


def floor(people: list[ck.Profile]) -> float:
    template = "Hi {firstName}"
    out: list[str] = []
    started = time.perf_counter()
    for profile in people:
        out.append(template.format_map(profile.attributes))
    return time.perf_counter() - started


def naive(people: list[ck.Profile]) -> float:
    env = ImmutableSandboxedEnvironment()
    template = env.from_string("Hi {{ profile.firstName }}")
    sent: list[tuple[str, str]] = []

    def channel_send(message: tuple[str, str]) -> None:
        sent.append(message)

    started = time.perf_counter()
    for profile in people:
        text = template.render(profile=profile.attributes)
        channel_send((profile.identities["email"], text))
    return time.perf_counter() - started


def kit_run(make: Callable[[ManualClock], ck.CampaignKit], people: list[ck.Profile]) -> float:
    clock = ManualClock(T0)
    kit = make(clock)
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    upsert_many = getattr(kit.profiles, "upsert_many", None)
    if upsert_many is not None:
        upsert_many(people)
    else:
        for profile in people:
            kit.profiles.upsert(profile)
    kit.audiences.define("all", [p.id for p in people])
    ada = kit.as_user("ada")
    surface = ada.create_surface(
        name="News", channel=ck.ChannelType.EMAIL, settings=ck.EmailSettings(sender="n@example.com")
    )
    campaign = ada.create_campaign(
        name="Bench",
        audience="all",
        namespace="email",
        actions=[
            ck.Action(surface.id, ck.EmailContent(subject="Hi {{ profile.firstName }}", html="x"))
        ],
        schedule=ck.Schedule(start=T0.add(minutes=1)),
    )
    ada.activate(campaign.id)
    kit.tick()  # ACTIVATING -> SCHEDULED
    clock.set(T0.add(minutes=1))
    started = time.perf_counter()
    kit.tick()  # goes live and delivers the whole run
    elapsed = time.perf_counter() - started
    report = ada.report(campaign.id)
    assert report.sent == N, report
    kit.close()
    return elapsed


def best(measure: Callable[[], float], repeat: int = 3) -> float:
    return min(measure() for _ in range(repeat))


def main() -> None:
    people = profiles()
    channels: dict[ck.ChannelType, ck.Channel] = {c: NullChannel() for c in ck.ChannelType}
    floor_s = best(lambda: floor(people))
    naive_s = best(lambda: naive(people))
    memory_s = best(
        lambda: kit_run(
            lambda clock: ck.CampaignKit.in_memory(clock, channels=channels, ids=SequentialIds()),
            people,
        )
    )
    with tempfile.TemporaryDirectory() as folder:
        counter = iter(range(100))
        sqlite_s = best(
            lambda: kit_run(
                lambda clock: ck.CampaignKit.sqlite(
                    Path(folder) / f"bench-{next(counter)}.db",
                    clock,
                    channels,
                    ids=SequentialIds(),
                ),
                people,
            ),
            repeat=2,
        )
    rate = {
        name: N / seconds
        for name, seconds in [
            ("floor", floor_s),
            ("naive", naive_s),
            ("memory", memory_s),
            ("sqlite", sqlite_s),
        ]
    }
    for name, value in rate.items():
        print(f"{name:>7}: {value:12,.0f} recipients/s")
    print(f"in-memory / floor:  {rate['memory'] / rate['floor']:.3f} (target >= 0.25)")
    print(f"in-memory / naive:  {rate['memory'] / rate['naive']:.2f} (target >= 3)")
    print(f"sqlite / in-memory: {rate['sqlite'] / rate['memory']:.2f} (target >= 0.3)")


if __name__ == "__main__":
    main()
