"""Runs, the delivery ledger, feedback, suppressions and static audiences in memory."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence

import attrs
import pendulum

from campaignkit.adapters.memory.tables import Journal, RunLedger, Tables, move
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import FeedbackRecord, LedgerEntry, Run
from campaignkit.domain.rules import RuleBook
from campaignkit.domain.triggers import ExecutionRecord
from campaignkit.errors import ConflictError, NotFound

_EMPTY = RunLedger()
"""What a run without entries reads (never written: writes go to the run's own)."""


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
        stored = attrs.evolve(run, revision=1)
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
        stored = attrs.evolve(run, revision=run.revision + 1)
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


@attrs.define
class MemoryLedger:
    """The delivery ledger of an in-memory unit of work."""

    tables: Tables
    journal: Journal

    def put(self, entries: Sequence[LedgerEntry]) -> None:
        """Insert or replace entries by key."""
        tables = self.tables
        for entry in entries:
            holder = tables.provider_ids.get(entry.provider_message_id or "")
            if holder is not None and holder != entry.key:
                raise ConflictError(
                    f"ledger write refused: provider message id {entry.provider_message_id!r} "
                    "is already held by another message; provider ids must be unique"
                )
            previous = tables.ledger.get(entry.key)
            self._place(entry, previous)
            self.journal.undo.append(functools.partial(self._place, previous, entry))

    def _place(self, new: LedgerEntry | None, old: LedgerEntry | None) -> None:
        """Replace ``old`` by ``new`` (same key; either may be None) in every index."""
        tables = self.tables
        if old is not None:
            key = old.key
            held = old.provider_message_id
            if held is not None and tables.provider_ids.get(held) == key:
                del tables.provider_ids[held]
            if new is None:
                del tables.ledger[key]
        if new is not None:
            key = new.key
            tables.ledger[key] = new
            if new.provider_message_id is not None:
                tables.provider_ids[new.provider_message_id] = key
        run_id, action_id, profile_id = key
        run = tables.ledger_by_run.get(run_id)
        if run is None:
            run = tables.ledger_by_run[run_id] = RunLedger()
        run.place((action_id, profile_id), new, old)

    def _run(self, run_id: str) -> RunLedger:
        return self.tables.ledger_by_run.get(run_id) or _EMPTY

    def recorded(self, run_id: str, profile_ids: Sequence[str]) -> set[tuple[str, str]]:
        """Pairs of ``run_id`` already in the ledger for these profiles."""
        return self._run(run_id).recorded(profile_ids)

    def open_entries(self, run_id: str, limit: int) -> Sequence[LedgerEntry]:
        """PENDING, QUEUED or RETRY entries of a run."""
        return self._run(run_id).first_open(limit)

    def pending(self, run_id: str, limit: int) -> Sequence[LedgerEntry]:
        """PENDING entries of a run."""
        return self._run(run_id).first_pending(limit)

    def due(self, run_id: str, until: pendulum.DateTime, limit: int) -> Sequence[LedgerEntry]:
        """QUEUED or RETRY entries due by ``until``, earliest first."""
        return self._run(run_id).due(until, limit)

    def next_due_at(self, run_id: str) -> pendulum.DateTime | None:
        """When the earliest QUEUED or RETRY entry is due."""
        return self._run(run_id).next_due_at()

    def by_provider_id(self, provider_message_id: str) -> LedgerEntry | None:
        """The entry with this provider message id."""
        key = self.tables.provider_ids.get(provider_message_id)
        return None if key is None else self.tables.ledger[key]

    def entries(self, run_id: str) -> Iterator[LedgerEntry]:
        """Every entry of a run."""
        return iter(sorted(self._run(run_id).entries.values(), key=lambda e: e.key))


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
        return {a for a in addresses if (channel, a) in self.tables.suppressions}


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
        stored = attrs.evolve(execution, revision=1)
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


@attrs.define
class MemoryContacts:
    """Marketing contacts of an in-memory unit of work (frequency caps)."""

    tables: Tables
    journal: Journal

    def record(
        self,
        channel: ChannelType,
        contacts: Sequence[tuple[str, pendulum.DateTime]],
        keys: Sequence[str] | None = None,
    ) -> None:
        """Record ``(profile_id, sent_at)`` contacts, each under its key if given."""
        by_profile = self.tables.contacts.setdefault(channel, {})
        by_key = self.tables.contact_keys
        grown: list[list[pendulum.DateTime]] = []
        added: list[str] = []
        keyed: Sequence[str | None] = [None] * len(contacts) if keys is None else keys
        for (profile_id, at), key in zip(contacts, keyed, strict=True):
            if key is not None:
                by_key[key] = (channel, profile_id, at)
                added.append(key)
            times = by_profile.get(profile_id)
            if times is None:
                times = by_profile[profile_id] = []
            times.append(at)
            grown.append(times)

        def undo() -> None:
            for times in reversed(grown):
                times.pop()
            for key in added:
                del by_key[key]

        self.journal.undo.append(undo)

    def forget(self, channel: ChannelType, contacts: Sequence[tuple[str, str]]) -> None:
        """Remove the ``(profile_id, key)`` contacts recorded on ``channel``."""
        by_key = self.tables.contact_keys
        for profile_id, key in contacts:
            found = by_key.get(key)
            if found is None or found[:2] != (channel, profile_id):
                continue
            del by_key[key]
            times = self.tables.contacts[channel][profile_id]
            times.remove(found[2])
            self.journal.undo.append(functools.partial(self._restore, key, found, times))

    def _restore(
        self,
        key: str,
        found: tuple[ChannelType, str, pendulum.DateTime],
        times: list[pendulum.DateTime],
    ) -> None:
        times.append(found[2])
        self.tables.contact_keys[key] = found

    def counts(
        self, channel: ChannelType, profile_ids: Sequence[str], since: pendulum.DateTime
    ) -> Mapping[str, int]:
        """Contacts per profile on ``channel`` at or after ``since``."""
        by_profile = self.tables.contacts.get(channel, {})
        found = {}
        for profile_id in profile_ids:
            count = sum(1 for at in by_profile.get(profile_id, ()) if at >= since)
            if count:
                found[profile_id] = count
        return found


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
