"""``copy_store``: copy everything one kit holds into another, through the ports.

It reads the source with the store's ``scan`` methods and writes the
destination with ``restore`` (records kept at their own revision) and the
ordinary writers (``ledger.put``, ``contacts.record``, ``access.record``,
...), so it works between any two adapters: memory, SQLite, PostgreSQL, or
a host's own.

The source is read in one unit of work (one consistent snapshot; SQLite
holds its write lock meanwhile, so stop ticks and workers first). Large
tables are read a batch at a time, and the destination is written in units
of work of at most ``batch_size`` records, so memory stays bounded whatever
the store's size, except for one static audience's member ids, which the
audience port defines whole (``StaticAudienceRepository.define``). A copy
is not one transaction: if it fails, the destination holds part of the copy;
copy again into an empty store.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeVar

import attrs

from campaignkit.domain import checks
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.profile import Profile
from campaignkit.errors import StorageError, ValidationError
from campaignkit.ports import ContactRecord, ScanningProfileStore, UnitOfWork

if TYPE_CHECKING:
    from campaignkit.kit import CampaignKit

__all__ = ["MAX_BATCH_SIZE", "TABLES", "CopyReport", "copy_store", "count_store"]

T = TypeVar("T")

TABLES: Final = (
    "rules",
    "surfaces",
    "approval_policies",
    "access",
    "groups",
    "access_log",
    "campaigns",
    "runs",
    "ledger",
    "executions",
    "feedback",
    "contacts",
    "suppressions",
    "profiles",
    "audiences",
    "audience_members",
)
"""What :func:`copy_store` copies and counts, in the order it copies them.

``access`` counts principals with product profiles, ``groups`` group
memberships, ``rules`` the rule book (1 once it was saved) and
``audience_members`` the members of every static audience.
"""

MAX_BATCH_SIZE: Final = 10_000
"""The largest ``batch_size`` :func:`copy_store` accepts."""


@attrs.frozen
class CopyReport:
    """What :func:`copy_store` copied, verified against the destination.

    Attributes:
        counts: Records copied per table (every name of :data:`TABLES`, in order).
        merged: Whether the destination was allowed to hold data already.
    """

    counts: Mapping[str, int]
    merged: bool = False

    @property
    def total(self) -> int:
        """Records copied in all."""
        return sum(self.counts.values())

    def __str__(self) -> str:
        width = max(len(table) for table in self.counts)
        lines = [f"{table:<{width}}  {count:>10,}" for table, count in self.counts.items()]
        return "\n".join([*lines, f"{'total':<{width}}  {self.total:>10,}"])


def copy_store(
    src: CampaignKit, dst: CampaignKit, *, merge: bool = False, batch_size: int = 500
) -> CopyReport:
    """Copy everything ``src`` holds into ``dst``: store, profiles and static audiences.

    Campaigns (with their versions, history and approval trail), surfaces,
    access grants, groups and their audit log, approval policies, the rule
    book, runs, the delivery ledger, executions, feedback, contacts,
    suppressions, profiles and static audiences are copied with their ids,
    revisions and history unchanged, so a run interrupted in ``src``
    continues in ``dst`` where it stopped. Audiences defined by a condition
    (``where=``) and the host's audience source live outside the store and
    are not copied. Stop ticks and workers on both kits while copying.

    Args:
        src: The kit to copy from (read only).
        dst: The kit to copy into; it must hold nothing unless ``merge``.
        merge: Add to a destination that holds data already: a record whose
            id is in both is replaced by the source's, access grants are
            joined, and logs (access log, feedback, contacts) are appended.
        batch_size: Records read per query and written per unit of work.

    Returns:
        The records copied per table, after checking the destination holds them.

    Raises:
        ValidationError: ``src`` or ``dst`` is not a kit, ``merge`` not a
            bool, ``dst`` holds data and ``merge`` is false, ``src`` and
            ``dst`` are the same store, a profile store cannot list its
            profiles, or ``batch_size`` is not a whole number from 1 to 10,000.
        ConflictError: with ``merge``, a record of ``src`` clashes with a
            different one of ``dst`` (a surface name, an execution's request
            id, a provider message id).
        StorageError: the destination does not hold what was copied
            afterwards (something else wrote to either kit meanwhile), or
            a store failed.
    """
    _check(src, dst, merge, batch_size)
    if merge:
        before = count_store(dst, batch_size=batch_size)
    else:
        _refuse_data(dst)
        before = dict.fromkeys(TABLES, 0)
    copied = _Copy(src, dst, merge=merge, batch_size=batch_size).run()
    after = count_store(dst, batch_size=batch_size)
    wrong = [
        f"{table}: {after[table]:,} in dst, {copied[table]:,} copied"
        + (f" to {before[table]:,} there before" if merge else "")
        for table in TABLES
        if not copied[table] <= after[table] <= before[table] + copied[table]
    ]
    if wrong:
        raise StorageError(
            "the copy does not check out (" + "; ".join(wrong) + "): something else wrote to "
            "src or dst meanwhile, or a store lost writes; stop ticks and workers on both "
            "and copy again into an empty store"
        )
    return CopyReport(copied, merged=merge)


def count_store(kit: CampaignKit, *, batch_size: int = 500) -> dict[str, int]:
    """Count what ``kit`` holds, per name of :data:`TABLES` (by reading all of it).

    Args:
        kit: The kit.
        batch_size: Records read per query.

    Returns:
        The count of each table.

    Raises:
        ValidationError: the kit's profile store cannot list its profiles.
    """
    profiles = _scanning(kit, "kit")
    counts = dict.fromkeys(TABLES, 0)
    with kit.store.unit_of_work() as uow:
        counts["rules"] = 1 if uow.rules.get().revision else 0
        counts["surfaces"] = len(uow.surfaces.list())
        counts["approval_policies"] = len(uow.approval_policies.list())
        counts["access"] = len(uow.access.all())
        counts["groups"] = len(uow.access.memberships())
        counts["access_log"] = len(uow.access.log())
        counts["campaigns"] = _total(uow.campaigns.scan(batch_size))
        for runs in uow.runs.scan(batch_size):
            counts["runs"] += len(runs)
            for run in runs:
                counts["ledger"] += _total(uow.ledger.scan(run.id, batch_size))
        counts["executions"] = _total(uow.executions.scan(batch_size))
        counts["feedback"] = _total(uow.feedback.scan(batch_size))
        counts["contacts"] = _total(uow.contacts.scan(batch_size))
        counts["suppressions"] = _total(uow.suppressions.scan(batch_size))
        counts["profiles"] = _total(profiles.scan(batch_size))
        names = uow.audiences.names()
        counts["audiences"] = len(names)
        counts["audience_members"] = sum(uow.audiences.count(name) or 0 for name in names)
    return counts


def _total(batches: Iterable[Sequence[object]]) -> int:
    return sum(len(batch) for batch in batches)


def _check(src: object, dst: object, merge: object, batch_size: object) -> None:
    """Raise ``ValidationError`` for arguments a caller got wrong (typed or not)."""
    from campaignkit.kit import CampaignKit  # noqa: PLC0415 - the kit imports the adapters

    problems: list[str] = []
    for name, kit in (("src", src), ("dst", dst)):
        if not isinstance(kit, CampaignKit):
            problems.append(
                f"{name} must be a CampaignKit (such as CampaignKit.sqlite(path)), "
                f"not {checks.describe(kit)}"
            )
    if not isinstance(merge, bool):
        problems.append(f"merge must be True or False, not {checks.describe(merge)}")
    checks.whole_number(problems, "batch_size", batch_size, minimum=1, maximum=MAX_BATCH_SIZE)
    checks.raise_if(problems, "copy_store")
    assert isinstance(src, CampaignKit)  # checked above, for the type checker
    assert isinstance(dst, CampaignKit)
    if src.store is dst.store or _same_database(src.store, dst.store):
        checks.raise_if(["src and dst are the same store; copy into another one"], "copy_store")
    _scanning(src, "src")
    _scanning(dst, "dst")


def _same_database(a: object, b: object) -> bool:
    """True if ``a`` and ``b`` open one database: a SQLite file, or a PostgreSQL schema.

    Copying would wait on itself (each unit of work takes the database's write lock).
    """
    labels = [getattr(store, "label", None) for store in (a, b)]  # PostgreSQL: server and schema
    if isinstance(labels[0], str) and labels[0] == labels[1]:
        return True
    paths = [getattr(store, "path", None) for store in (a, b)]  # SQLite: the file
    if not all(isinstance(path, str) and path != ":memory:" for path in paths):
        return False
    return os.path.realpath(Path(str(paths[0]))) == os.path.realpath(Path(str(paths[1])))


def _scanning(kit: CampaignKit, name: str) -> ScanningProfileStore:
    profiles = kit.profiles
    if not isinstance(profiles, ScanningProfileStore):
        raise ValidationError(
            [
                f"the profile store of {name} ({type(profiles).__name__}) cannot list its "
                "profiles: give it a scan(batch_size) method"
            ],
            subject="copy_store",
        )
    return profiles


def _refuse_data(dst: CampaignKit) -> None:
    """Raise ``ValidationError`` naming what ``dst`` holds, if anything."""
    with dst.store.unit_of_work() as uow:
        probes: dict[str, Callable[[], bool]] = {
            "rules": lambda: uow.rules.get().revision > 0,
            "surfaces": lambda: bool(uow.surfaces.list()),
            "approval_policies": lambda: bool(uow.approval_policies.list()),
            "access": lambda: bool(uow.access.all()),
            "groups": lambda: bool(uow.access.memberships()),
            "access_log": lambda: bool(uow.access.log()),
            "campaigns": lambda: any(uow.campaigns.scan(1)),
            "runs": lambda: any(uow.runs.scan(1)),
            "executions": lambda: any(uow.executions.scan(1)),
            "feedback": lambda: any(uow.feedback.scan(1)),
            "contacts": lambda: any(uow.contacts.scan(1)),
            "suppressions": lambda: any(uow.suppressions.scan(1)),
            "profiles": lambda: any(_scanning(dst, "dst").scan(1)),
            "audiences": lambda: bool(uow.audiences.names()),
        }
        held = [table for table, probe in probes.items() if probe()]
    if held:
        raise ValidationError(
            [
                f"dst is not empty (it holds {', '.join(held)}): copy into an empty store, "
                "or pass merge=True to add to it"
            ],
            subject="copy_store",
        )


class _Copy:
    """One copy from ``src`` to ``dst``, counting what it writes."""

    def __init__(self, src: CampaignKit, dst: CampaignKit, *, merge: bool, batch_size: int):
        self.src, self.dst = src, dst
        self.merge = merge
        self.batch_size = batch_size
        self.counts = dict.fromkeys(TABLES, 0)

    def _write(
        self, table: str, batches: Iterable[Sequence[T]], write: Callable[[UnitOfWork, T], None]
    ) -> None:
        """Write each batch in its own unit of work of ``dst``."""
        for batch in batches:
            with self.dst.store.unit_of_work() as uow:
                for item in batch:
                    write(uow, item)
            self.counts[table] += len(batch)

    def run(self) -> dict[str, int]:
        """Copy everything; return the counts written per table."""
        size = self.batch_size
        with self.src.store.unit_of_work() as src:
            self._small_tables(src)
            self._write("campaigns", src.campaigns.scan(size), lambda u, c: u.campaigns.restore(c))
            for runs in src.runs.scan(size):
                self._write("runs", [runs], lambda u, r: u.runs.restore(r))
                for run in runs:
                    for entries in src.ledger.scan(run.id, size):
                        with self.dst.store.unit_of_work() as uow:
                            uow.ledger.put(entries)
                        self.counts["ledger"] += len(entries)
            self._write(
                "executions", src.executions.scan(size), lambda u, e: u.executions.restore(e)
            )
            self._write("feedback", src.feedback.scan(size), lambda u, f: u.feedback.add(f))
            for contacts in src.contacts.scan(size):
                with self.dst.store.unit_of_work() as uow:
                    _record_contacts(uow, contacts)
                self.counts["contacts"] += len(contacts)
            self._write(
                "suppressions", src.suppressions.scan(size), lambda u, s: u.suppressions.add(*s)
            )
            self._profiles()
            for name in src.audiences.names():
                self._audience(src, name)
        return self.counts

    def _small_tables(self, src: UnitOfWork) -> None:
        """The rule book, surfaces, policies and access: few records, one unit of work."""
        rules = src.rules.get()
        surfaces, policies = src.surfaces.list(), src.approval_policies.list()
        grants, memberships = src.access.all(), src.access.memberships()
        log = src.access.log()
        with self.dst.store.unit_of_work() as uow:
            if rules.revision:
                uow.rules.restore(rules)
                self.counts["rules"] = 1
            for surface in surfaces:
                uow.surfaces.restore(surface)
            for policy in policies:
                uow.approval_policies.restore(policy)
            for principal, profiles in grants.items():
                held = uow.access.profiles(principal) if self.merge else frozenset()
                uow.access.set_profiles(principal, held | profiles)
            for group, user in memberships:
                uow.access.set_member(group, user, member=True)
            for entry in log:
                uow.access.record(entry)
        self.counts.update(
            surfaces=len(surfaces),
            approval_policies=len(policies),
            access=len(grants),
            groups=len(memberships),
            access_log=len(log),
        )

    def _profiles(self) -> None:
        """Profiles a batch at a time, with ``upsert_many`` when the destination has it."""
        dst = self.dst.profiles
        many: Callable[[Sequence[Profile]], None] | None = getattr(dst, "upsert_many", None)
        for profiles in _scanning(self.src, "src").scan(self.batch_size):
            if many is not None:
                many(profiles)
            else:
                for profile in profiles:
                    dst.upsert(profile)
            self.counts["profiles"] += len(profiles)

    def _audience(self, src: UnitOfWork, name: str) -> None:
        """A static audience: read a batch at a time, held whole, defined in one unit.

        The port defines an audience from all its ids at once, so this is the
        one place a copy holds a table's worth in memory.
        """
        members: list[str] = []
        while batch := src.audiences.members(name, len(members), self.batch_size):
            members.extend(batch)
        with self.dst.store.unit_of_work() as uow:
            uow.audiences.define(name, members)
        self.counts["audiences"] += 1
        self.counts["audience_members"] += len(members)


def _record_contacts(uow: UnitOfWork, contacts: Sequence[ContactRecord]) -> None:
    """Record contacts per channel, the keyed ones with their keys."""
    groups: dict[tuple[ChannelType, bool], list[ContactRecord]] = {}
    for record in contacts:
        groups.setdefault((record[0], record[3] is not None), []).append(record)
    for (channel, keyed), records in groups.items():
        pairs = [(profile_id, at) for _, profile_id, at, _ in records]
        keys = [key for *_, key in records if key is not None] if keyed else None
        uow.contacts.record(channel, pairs, keys)
