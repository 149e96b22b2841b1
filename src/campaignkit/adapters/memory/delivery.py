"""Runs, feedback, suppressions, static audiences, executions, contacts and rules in memory.

The delivery ledger is in :mod:`.ledger`.
"""

from __future__ import annotations

import collections
import functools
from collections.abc import Iterator, Mapping, Sequence

import attrs
import pendulum

from campaignkit.adapters.memory.tables import Journal, Tables, batches, move
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.copying import evolve
from campaignkit.domain.delivery import FeedbackRecord, Run
from campaignkit.domain.ledger_rows import ContactBatch
from campaignkit.domain.rules import RuleBook
from campaignkit.domain.triggers import ExecutionRecord
from campaignkit.errors import ConflictError, NotFound
from campaignkit.ports import ContactRecord


def _run_due(run: Run | None) -> tuple[pendulum.DateTime, str] | None:
    return None if run is None or run.due_at is None else (run.due_at, run.id)


@attrs.define
class MemoryRuns:
    """The run repository of an in-memory unit of work."""

    tables: Tables
    journal: Journal

    def _put(self, run: Run, previous: Run | None) -> None:
        tables = self.tables

        def place(new: Run | None, old: Run | None) -> None:
            move(tables.runs_by_due, _run_due(old), _run_due(new))
            if new is not None:
                tables.runs[new.id] = new
            elif old is not None:
                del tables.runs[old.id]

        place(run, previous)
        self.journal.undo.append(lambda: place(previous, run))

    def add(self, run: Run) -> Run:
        """Store a new run at revision 1."""
        if run.id in self.tables.runs:
            raise ConflictError(f"a run with id {run.id!r} exists already")
        stored = evolve(run, revision=1)
        self._put(stored, None)
        return stored

    def get(self, run_id: str) -> Run:
        """Return the run; raise ``NotFound`` if there is none."""
        found = self.tables.runs.get(run_id)
        if found is None:
            raise NotFound("run", run_id)
        return found

    def save(self, run: Run) -> Run:
        """Replace the run loaded at ``run.revision``."""
        previous = self.get(run.id)
        if previous.revision != run.revision:
            raise ConflictError(
                f"run {run.id!r} changed meanwhile (revision {previous.revision}, "
                f"yours {run.revision}); reload and retry"
            )
        stored = evolve(run, revision=run.revision + 1)
        self._put(stored, previous)
        return stored

    def for_campaign(self, campaign_id: str) -> Sequence[Run]:
        """Every run of a campaign, oldest first."""
        runs = [r for r in self.tables.runs.values() if r.campaign_id == campaign_id]
        return sorted(runs, key=lambda r: (r.created_at, r.id))

    def due(self, until: pendulum.DateTime, limit: int) -> Sequence[tuple[pendulum.DateTime, str]]:
        """Runs due by ``until``, in ``(due_at, id)`` order."""
        return self.tables.runs_by_due.upto((until, "\U0010ffff"))[:limit]

    def next_due_at(self) -> pendulum.DateTime | None:
        """The earliest due instant of any run."""
        first = self.tables.runs_by_due.first()
        return None if first is None else first[0]

    def scan(self, batch_size: int) -> Iterator[Sequence[Run]]:
        """Every run in id order, in batches (a snapshot taken at the start)."""
        runs = self.tables.runs
        return batches([runs[key] for key in sorted(runs)], batch_size)

    def restore(self, run: Run) -> None:
        """Store ``run`` as given (revision included), replacing one with its id."""
        self._put(run, self.tables.runs.get(run.id))


@attrs.define
class MemoryFeedback:
    """Feedback records of an in-memory unit of work."""

    tables: Tables
    journal: Journal

    def add(self, record: FeedbackRecord) -> None:
        """Append a feedback record."""
        records = self.tables.feedback
        records.append(record)
        self.journal.undo.append(lambda: records.__delitem__(-1))

    def for_campaign(self, campaign_id: str) -> Sequence[FeedbackRecord]:
        """Every feedback record of a campaign, oldest first."""
        return [r for r in self.tables.feedback if r.campaign_id == campaign_id]

    def scan(self, batch_size: int) -> Iterator[Sequence[FeedbackRecord]]:
        """Every feedback record, oldest first, in batches."""
        return batches(list(self.tables.feedback), batch_size)


@attrs.define
class MemorySuppressions:
    """Suppressed addresses of an in-memory unit of work."""

    tables: Tables
    journal: Journal

    def add(self, channel: ChannelType, address: str) -> None:
        """Suppress ``address`` on ``channel``."""
        pair, suppressions = (channel, address), self.tables.suppressions
        if pair not in suppressions:
            suppressions.add(pair)
            self.journal.undo.append(lambda: suppressions.discard(pair))

    def suppressed(self, channel: ChannelType, addresses: Sequence[str]) -> set[str]:
        """Which of ``addresses`` are suppressed on ``channel``."""
        suppressions = self.tables.suppressions
        if not suppressions:  # a fan-out asks once per batch
            return set()
        return {a for a in addresses if (channel, a) in suppressions}

    def scan(self, batch_size: int) -> Iterator[Sequence[tuple[ChannelType, str]]]:
        """Every suppressed ``(channel, address)``, ordered, in batches."""
        pairs = sorted(self.tables.suppressions, key=lambda pair: (pair[0].value, pair[1]))
        return batches(pairs, batch_size)


@attrs.define
class MemoryStaticAudiences:
    """Static audiences of an in-memory unit of work."""

    tables: Tables
    journal: Journal

    def define(self, name: str, profile_ids: Sequence[str]) -> None:
        """Create or replace audience ``name``."""
        audiences = self.tables.static_audiences
        previous = audiences.get(name)
        audiences[name] = tuple(profile_ids)

        def undo() -> None:
            if previous is None:
                del audiences[name]
            else:
                audiences[name] = previous

        self.journal.undo.append(undo)

    def count(self, name: str) -> int | None:
        """How many members ``name`` has, or None."""
        members = self.tables.static_audiences.get(name)
        return None if members is None else len(members)

    def members(self, name: str, offset: int, limit: int) -> Sequence[str]:
        """Member ids from ``offset``, in definition order."""
        return self.tables.static_audiences.get(name, ())[offset : offset + limit]

    def names(self) -> Sequence[str]:
        """Every static audience's name, in order."""
        return sorted(self.tables.static_audiences)


@attrs.define
class MemoryExecutions:
    """API executions of an in-memory unit of work."""

    tables: Tables
    journal: Journal

    def add(self, execution: ExecutionRecord) -> ExecutionRecord:
        """Store a new execution at revision 1."""
        executions = self.tables.executions
        if execution.id in executions or self.by_request(
            execution.campaign_id, execution.request_id
        ):
            raise ConflictError(
                f"an execution with id {execution.id!r} or request id "
                f"{execution.request_id!r} exists already"
            )
        stored = evolve(execution, revision=1)
        executions[stored.id] = stored
        by_request = self.tables.executions_by_request
        request = (stored.campaign_id, stored.request_id)
        by_request[request] = stored.id
        self.journal.undo.append(lambda: executions.__delitem__(stored.id))
        self.journal.undo.append(lambda: by_request.__delitem__(request))
        return stored

    def get(self, execution_id: str) -> ExecutionRecord:
        """Return the execution; raise ``NotFound`` if there is none."""
        found = self.tables.executions.get(execution_id)
        if found is None:
            raise NotFound("execution", execution_id)
        return found

    def by_request(self, campaign_id: str, request_id: str) -> ExecutionRecord | None:
        """The execution of this request id for this campaign, or None."""
        execution_id = self.tables.executions_by_request.get((campaign_id, request_id))
        return None if execution_id is None else self.tables.executions[execution_id]

    def save(self, execution: ExecutionRecord) -> ExecutionRecord:
        """Replace the execution loaded at its revision."""
        previous = self.get(execution.id)
        if previous.revision != execution.revision:
            raise ConflictError(f"execution {execution.id!r} changed meanwhile; reload and retry")

        stored = attrs.evolve(execution, revision=execution.revision + 1)
        executions = self.tables.executions
        executions[stored.id] = stored
        self.journal.undo.append(lambda: executions.__setitem__(previous.id, previous))
        before = (previous.campaign_id, previous.request_id)
        after = (stored.campaign_id, stored.request_id)
        if before != after:  # keep the request index true (no verb does this today)
            by_request = self.tables.executions_by_request
            del by_request[before]
            by_request[after] = stored.id
            self.journal.undo.append(lambda: by_request.__delitem__(after))
            self.journal.undo.append(lambda: by_request.__setitem__(before, previous.id))
        return stored

    def scan(self, batch_size: int) -> Iterator[Sequence[ExecutionRecord]]:
        """Every execution in id order, in batches (a snapshot taken at the start)."""
        executions = self.tables.executions
        return batches([executions[key] for key in sorted(executions)], batch_size)

    def restore(self, execution: ExecutionRecord) -> None:
        """Store ``execution`` as given (revision included), replacing one with its id.

        Raises:
            ConflictError: another execution holds its request id for its campaign.
        """
        executions, by_request = self.tables.executions, self.tables.executions_by_request
        request = (execution.campaign_id, execution.request_id)
        holder = by_request.get(request)
        if holder is not None and holder != execution.id:
            raise ConflictError(
                f"execution {holder!r} holds request id {execution.request_id!r} of campaign "
                f"{execution.campaign_id!r} already"
            )
        previous = executions.get(execution.id)
        if previous is not None:
            del by_request[(previous.campaign_id, previous.request_id)]
        executions[execution.id] = execution
        by_request[request] = execution.id

        def undo() -> None:
            del by_request[request]
            if previous is None:
                del executions[execution.id]
            else:
                executions[execution.id] = previous
                by_request[(previous.campaign_id, previous.request_id)] = previous.id

        self.journal.undo.append(undo)


@attrs.define
class MemoryContacts:
    """Marketing contacts of an in-memory unit of work (frequency caps).

    Every marketing message sent is recorded, caps or not (a cap added later
    counts what was sent before it), so ``record`` is on the fan-out's hot
    path: it appends the batch to a per-channel log and files the keys, and
    the per-profile index only ``counts`` needs is brought up to date from
    the log when something reads or forgets (without caps, never).
    """

    tables: Tables
    journal: Journal

    def record(
        self,
        channel: ChannelType,
        contacts: Sequence[tuple[str, pendulum.DateTime]],
        keys: Sequence[str] | None = None,
    ) -> None:
        """Record ``(profile_id, sent_at)`` contacts, each under its key if given.

        Raises:
            ValueError: ``keys`` is given and not as long as ``contacts``.
        """
        # a ContactBatch is kept as it is (immutable, no pair per contact to keep)
        batch = contacts if type(contacts) is ContactBatch else tuple(contacts)
        if keys is not None and len(keys) != len(batch):
            raise ValueError(f"keys must be as many as contacts ({len(batch)}), not {len(keys)}")
        if not batch:
            return
        keyed = tuple(keys) if keys is not None else ()
        if keyed:  # filed by key only when something forgets (the caller's tuples kept as they are)
            self.tables.contact_key_log.setdefault(channel, []).append((keyed, batch))
        self.tables.contact_log.setdefault(channel, []).append(batch)
        self.journal.undo.append(functools.partial(_unrecord, self.tables, channel, batch, keyed))

    def forget(self, channel: ChannelType, contacts: Sequence[tuple[str, str]]) -> None:
        """Remove the ``(profile_id, key)`` contacts recorded on ``channel``."""
        if not self.tables.contact_keys.get(channel) and not self.tables.contact_key_log.get(
            channel
        ):
            return
        by_key = _keyed(self.tables, channel)
        forgotten: list[tuple[str, tuple[str, pendulum.DateTime]]] = []
        for profile_id, key in contacts:
            found = by_key.get(key)
            if found is None or found[0] != profile_id:
                continue
            del by_key[key]
            forgotten.append((key, found))
        if not forgotten:
            return
        by_profile = _indexed(self.tables, channel)
        for _, (profile_id, at) in forgotten:
            by_profile[profile_id].remove(at)
        self.journal.undo.append(functools.partial(_unforget, self.tables, channel, forgotten))

    def counts(
        self, channel: ChannelType, profile_ids: Sequence[str], since: pendulum.DateTime
    ) -> Mapping[str, int]:
        """Contacts per profile on ``channel`` at or after ``since``."""
        by_profile = _indexed(self.tables, channel)
        found = {}
        for profile_id in profile_ids:
            count = sum(1 for at in by_profile.get(profile_id, ()) if at >= since)
            if count:
                found[profile_id] = count
        return found

    def scan(self, batch_size: int) -> Iterator[Sequence[ContactRecord]]:
        """Every contact, by channel, profile, instant and key, in batches (a snapshot)."""
        records: list[ContactRecord] = []
        tables = self.tables
        for channel in sorted({*tables.contacts, *tables.contact_log}, key=lambda c: c.value):
            unkeyed = collections.Counter(
                (profile_id, at)
                for profile_id, times in _indexed(tables, channel).items()
                for at in times
            )
            for key, (profile_id, at) in _keyed(tables, channel).items():
                unkeyed[(profile_id, at)] -= 1
                records.append((channel, profile_id, at, key))
            records.extend(
                (channel, profile_id, at, None)
                for (profile_id, at), count in unkeyed.items()
                for _ in range(count)
            )
        records.sort(key=lambda r: (r[0].value, r[1], r[2], r[3] or ""))
        return batches(records, batch_size)


def _indexed(tables: Tables, channel: ChannelType) -> dict[str, list[pendulum.DateTime]]:
    """The per-profile contacts of ``channel``, with the log filed in first."""
    by_profile = tables.contacts.setdefault(channel, {})
    log = tables.contact_log.get(channel)
    if log:
        for batch in log:
            for profile_id, at in batch:
                times = by_profile.get(profile_id)
                if times is None:
                    by_profile[profile_id] = [at]
                else:
                    times.append(at)
        log.clear()
    return by_profile


def _keyed(tables: Tables, channel: ChannelType) -> dict[str, tuple[str, pendulum.DateTime]]:
    """The keyed contacts of ``channel``, with the keyed batches filed in first."""
    by_key = tables.contact_keys.setdefault(channel, {})
    log = tables.contact_key_log.get(channel)
    if log:
        for keys, batch in log:
            by_key.update(zip(keys, batch, strict=True))
        log.clear()
    return by_key


def _unrecord(
    tables: Tables,
    channel: ChannelType,
    batch: Sequence[tuple[str, pendulum.DateTime]],
    keys: tuple[str, ...],
) -> None:
    log = tables.contact_log[channel]
    if log and log[-1] is batch:  # not filed yet (undo is newest first)
        log.pop()
    else:
        by_profile = _indexed(tables, channel)
        for profile_id, at in batch:
            times = by_profile[profile_id]
            times.remove(at)  # an equal instant: which one does not matter
            if not times:
                del by_profile[profile_id]
    if keys:
        key_log = tables.contact_key_log[channel]
        if key_log and key_log[-1][1] is batch:  # not filed yet
            key_log.pop()
        else:
            by_key = tables.contact_keys[channel]
            for key in keys:
                by_key.pop(key, None)


def _unforget(
    tables: Tables, channel: ChannelType, forgotten: list[tuple[str, tuple[str, pendulum.DateTime]]]
) -> None:
    by_key, by_profile = _keyed(tables, channel), _indexed(tables, channel)
    for key, found in reversed(forgotten):
        by_key[key] = found
        by_profile.setdefault(found[0], []).append(found[1])


@attrs.define
class MemoryRules:
    """The rule book of an in-memory unit of work."""

    tables: Tables
    journal: Journal

    def get(self) -> RuleBook:
        """The rule book (empty if none was saved)."""
        return self.tables.rules

    def save(self, rules: RuleBook) -> RuleBook:
        """Replace the rule book loaded at ``rules.revision``."""
        previous = self.tables.rules
        if previous.revision != rules.revision:
            raise ConflictError("the business rules changed meanwhile; reload and retry")
        stored = attrs.evolve(rules, revision=rules.revision + 1)
        self.tables.rules = stored
        self.journal.undo.append(lambda: setattr(self.tables, "rules", previous))
        return stored

    def restore(self, rules: RuleBook) -> None:
        """Store ``rules`` as given (revision included)."""
        previous = self.tables.rules
        self.tables.rules = rules
        self.journal.undo.append(lambda: setattr(self.tables, "rules", previous))
