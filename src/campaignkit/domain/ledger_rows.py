"""Ledger rows of the delivery hot path, and the one-step ``Message`` constructor.

A run writes each recipient it sends to as a :data:`PendingRow` (the intent)
and then an :data:`OutcomeRow` (what the channel answered), instead of full
``LedgerEntry`` values; :func:`pending_entry` and :func:`settled_entry` say
which entries they stand for. :func:`message_builder` builds an action's
messages without ``Message.__init__``'s per-field work. All of it is importable
from :mod:`campaignkit.domain.delivery` too.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from itertools import repeat
from types import MappingProxyType
from typing import TypeAlias, overload

import pendulum

from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import LedgerEntry, LedgerState, Message, SendResult
from campaignkit.domain.surface import SurfaceSettings

__all__ = [
    "AcceptedRows",
    "ContactBatch",
    "FreshMessages",
    "HandedOver",
    "MessageBuilder",
    "PendingRows",
    "builder_parts",
    "OutcomeRow",
    "PendingRow",
    "message_builder",
    "pending_entry",
    "settled_entry",
]

MessageBuilder: TypeAlias = Callable[[str, str, "Mapping[str, str]", "str | None"], Message]
"""``build(profile_id, address, fields, unsubscribe_url)``: see :func:`message_builder`."""

_new = object.__new__
_set_dict = vars(Message)["__dict__"].__set__
"""Sets a new message's attributes at once (the ``__dict__`` descriptor, looked up once)."""
_NO_FIELDS: Mapping[str, str] = MappingProxyType({})


def message_builder(
    *,
    run_id: str,
    campaign_id: str,
    action_id: str,
    channel: ChannelType,
    settings: SurfaceSettings,
    transactional: bool,
) -> MessageBuilder:
    """A fast constructor of one action's messages in one run.

    What every message of the action shares is fixed once; each call gives the
    recipient, their address, the rendered fields (a fresh ``dict`` the message
    takes over: the caller must not change it afterwards) and the unsubscribe
    URL. The result equals ``Message(...)`` built with the same values, with the
    idempotency key of ``(run_id, action_id, profile_id)``; it skips the
    per-field checks and copies of ``__init__``, which cost more than the rest
    of a message's delivery.

    Args:
        run_id: The run.
        campaign_id: The campaign.
        action_id: The action.
        channel: The action's channel.
        settings: The action's surface settings.
        transactional: True for transactional campaigns.

    Returns:
        ``build(profile_id, address, fields, unsubscribe_url) -> Message``.
    """
    prefix = f"{run_id}:{action_id}:"
    shared: dict[
        str, object
    ] = {  # in field order; a copy of a built dict costs a third of building one
        "run_id": run_id,
        "campaign_id": campaign_id,
        "action_id": action_id,
        "profile_id": "",
        "channel": channel,
        "address": "",
        "idempotency_key": "",
        "fields": _NO_FIELDS,
        "settings": settings,
        "proof": False,
        "transactional": transactional,
        "unsubscribe_url": None,
    }
    copy = shared.copy

    def build(
        profile_id: str, address: str, fields: Mapping[str, str], unsubscribe_url: str | None
    ) -> Message:
        values = copy()
        values["profile_id"] = profile_id
        values["address"] = address
        values["idempotency_key"] = prefix + profile_id
        values["fields"] = MappingProxyType(fields)
        if unsubscribe_url is not None:
            values["unsubscribe_url"] = unsubscribe_url
        message: Message = _new(Message)
        _set_dict(message, values)
        return message

    _PARTS[build] = (copy, prefix)
    return build


_PARTS: weakref.WeakKeyDictionary[MessageBuilder, tuple[Callable[[], dict[str, object]], str]] = (
    weakref.WeakKeyDictionary()
)


def builder_parts(build: MessageBuilder) -> tuple[Callable[[], dict[str, object]], str] | None:
    """What a :func:`message_builder` builder works from, for a caller that inlines it.

    A hot loop that builds a message per recipient may do ``build``'s work itself
    (saving a call per message): ``values = copy()``; set ``profile_id``,
    ``address``, ``idempotency_key`` (``prefix + profile_id``), ``fields`` (a
    ``MappingProxyType`` of the rendered dict) and, if any, ``unsubscribe_url``;
    then ``message = new_message(Message)`` and ``set_message_dict(message, values)``.

    Args:
        build: A builder.

    Returns:
        ``(copy, prefix)``: the copy of the shared fields and the idempotency
        key's prefix; None for a builder :func:`message_builder` did not make.
    """
    return _PARTS.get(build)


new_message = _new
"""``object.__new__``: a message without ``__init__`` (see :func:`builder_parts`)."""
set_message_dict = _set_dict
"""Sets a new message's fields at once (see :func:`builder_parts`)."""


PendingRow: TypeAlias = tuple[Message, "pendulum.DateTime | None", "str | None"]
"""A new PENDING ledger entry as the run's hot path writes it.

``(message, due_at, timezone)``: the rendered message (which names the run,
campaign, action, recipient, channel and address), the recipient's due time and
their profile's time zone. It stands for the ``LedgerEntry`` :func:`pending_entry`
builds (no attempts, no slot).
"""


class FreshMessages(list[Message]):
    """The messages of new PENDING entries of one action of one run, with their recipients.

    A plain list of messages (what a channel is handed) that also carries
    :attr:`profile_ids`, each message's recipient in the same order, so that
    the hand-over, the outcome rows and the ledger need not read them from
    every message. Whoever builds one vouches that every message names the same
    run, campaign, action and channel (``decide_batch`` builds them with one
    action's builder).

    Attributes:
        profile_ids: ``messages[i].profile_id`` for each ``i`` (set by the builder).
    """

    __slots__ = ("profile_ids",)

    profile_ids: list[str]


class PendingRows(Sequence[PendingRow]):
    """New PENDING rows of one action of one run, all due at one instant, held as columns.

    Row ``i`` is ``(messages[i], due_at, zones.get(i))``: a plain sequence of
    :data:`PendingRow` to any store, whose rows are made (in C) only when read.
    A store may instead keep the columns as they are: the in-memory ledger holds
    such a batch as one block instead of a row per recipient.

    Args:
        messages: The messages, with their recipients' ids (see :class:`FreshMessages`).
        due_at: Every row's due time.
        zones: The recipients' time zones by row number, for the rows that have one.

    Raises:
        ValueError: ``messages`` does not carry one profile id per message.
    """

    __slots__ = ("due_at", "messages", "zones")

    def __init__(
        self,
        messages: FreshMessages,
        due_at: pendulum.DateTime | None,
        zones: Mapping[int, str] | None = None,
    ) -> None:
        if len(messages.profile_ids) != len(messages):
            raise ValueError("FreshMessages must carry one profile id per message")
        self.messages = messages
        self.due_at = due_at
        self.zones: Mapping[int, str] = zones or {}

    def __len__(self) -> int:
        return len(self.messages)

    @overload
    def __getitem__(self, index: int) -> PendingRow: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[PendingRow]: ...

    def __getitem__(self, index: int | slice) -> PendingRow | Sequence[PendingRow]:
        if isinstance(index, slice):
            return list(self)[index]
        if index < 0:
            index += len(self.messages)
        return (self.messages[index], self.due_at, self.zones.get(index))

    def __iter__(self) -> Iterator[PendingRow]:
        if not self.zones:
            return zip(self.messages, repeat(self.due_at), repeat(None))
        return zip(self.messages, repeat(self.due_at), map(self.zones.get, range(len(self))))

    def __repr__(self) -> str:
        return f"PendingRows({list(self)!r})"


OutcomeRow: TypeAlias = tuple[
    str, str, LedgerState, int, "str | None", "str | None", "pendulum.DateTime | None"
]
"""What a channel's answer does to a PENDING entry, as the hot path writes it.

``(action_id, profile_id, state, attempts, provider_message_id, error,
next_attempt_at)``: the state is SENT, FAILED or RETRY. A RETRY entry keeps its
message; a SENT or FAILED one drops it. The entry keeps its address, due time and
time zone, and loses its rate slot (see :func:`settled_entry`).
"""


class AcceptedRows(Sequence[OutcomeRow]):
    """The outcome rows of messages accepted on their first hand-over, held as columns.

    Row ``i`` is ``(action_ids[i], profile_ids[i], SENT, 1, provider_ids[i], None,
    None)``: a plain sequence of :data:`OutcomeRow` to any store, whose rows are
    made (in C) only when read. A store may instead read the columns, which say
    the same (the in-memory ledger settles a batch of one action in bulk).

    Args:
        action_ids: Each row's action.
        profile_ids: Each row's recipient.
        provider_ids: Each row's provider message id.
    """

    __slots__ = ("action_ids", "profile_ids", "provider_ids")

    def __init__(
        self,
        action_ids: Sequence[str],
        profile_ids: Sequence[str],
        provider_ids: Sequence[str | None],
    ) -> None:
        if not len(action_ids) == len(profile_ids) == len(provider_ids):
            raise ValueError("the columns of AcceptedRows must have one item per row")
        self.action_ids = action_ids
        self.profile_ids = profile_ids
        self.provider_ids = provider_ids

    def __len__(self) -> int:
        return len(self.profile_ids)

    @overload
    def __getitem__(self, index: int) -> OutcomeRow: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[OutcomeRow]: ...

    def __getitem__(self, index: int | slice) -> OutcomeRow | Sequence[OutcomeRow]:
        if isinstance(index, slice):
            return list(self)[index]
        sent = LedgerState.SENT
        return (
            self.action_ids[index],
            self.profile_ids[index],
            sent,
            1,
            self.provider_ids[index],
            None,
            None,
        )

    def __iter__(self) -> Iterator[OutcomeRow]:
        return zip(
            self.action_ids,
            self.profile_ids,
            repeat(LedgerState.SENT),
            repeat(1),
            self.provider_ids,
            repeat(None),
            repeat(None),
        )

    def __repr__(self) -> str:
        return f"AcceptedRows({list(self)!r})"


class HandedOver(Sequence[tuple[Message, SendResult]]):
    """A channel's answers to :class:`FreshMessages`, held as the two columns.

    Item ``i`` is ``(messages[i], results[i])``: a plain sequence of (message,
    result) pairs, made (in C) only when read. The recorder may instead read the
    columns (a batch accepted whole becomes :class:`AcceptedRows` with the
    messages' own profile-id column).

    Args:
        messages: What was handed over, with their recipients (one action of one run).
        results: The channel's answer to each message, in order.

    Raises:
        ValueError: not one result per message.
    """

    __slots__ = ("messages", "results")

    def __init__(self, messages: FreshMessages, results: Sequence[SendResult]) -> None:
        if len(messages) != len(results):
            raise ValueError("HandedOver needs one result per message")
        self.messages = messages
        self.results = results

    def __len__(self) -> int:
        return len(self.messages)

    @overload
    def __getitem__(self, index: int) -> tuple[Message, SendResult]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[tuple[Message, SendResult]]: ...

    def __getitem__(
        self, index: int | slice
    ) -> tuple[Message, SendResult] | Sequence[tuple[Message, SendResult]]:
        if isinstance(index, slice):
            return list(self)[index]
        return (self.messages[index], self.results[index])

    def __iter__(self) -> Iterator[tuple[Message, SendResult]]:
        return zip(self.messages, self.results, strict=True)

    def __repr__(self) -> str:
        return f"HandedOver({list(self)!r})"


class ContactBatch(Sequence[tuple[str, "pendulum.DateTime"]]):
    """Contacts made at one instant, held as the recipients' ids and that instant.

    Item ``i`` is ``(profile_ids[i], at)``: a plain sequence of ``(profile_id,
    sent_at)`` contacts to any store, whose pairs are made (in C) only when read.
    A store may keep the batch as it is (immutable) instead of one pair per
    contact: the in-memory store does, so a fan-out keeps no tuple per contact
    for the cyclic collector to walk.

    Args:
        profile_ids: The recipients (copied).
        at: When they were contacted.
    """

    __slots__ = ("at", "profile_ids")

    def __init__(self, profile_ids: Sequence[str], at: pendulum.DateTime) -> None:
        self.profile_ids = tuple(profile_ids)
        self.at = at

    def __len__(self) -> int:
        return len(self.profile_ids)

    @overload
    def __getitem__(self, index: int) -> tuple[str, pendulum.DateTime]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[tuple[str, pendulum.DateTime]]: ...

    def __getitem__(
        self, index: int | slice
    ) -> tuple[str, pendulum.DateTime] | Sequence[tuple[str, pendulum.DateTime]]:
        if isinstance(index, slice):
            return list(self)[index]
        return (self.profile_ids[index], self.at)

    def __iter__(self) -> Iterator[tuple[str, pendulum.DateTime]]:
        return zip(self.profile_ids, repeat(self.at))

    def __repr__(self) -> str:
        return f"ContactBatch({list(self)!r})"


def pending_entry(row: PendingRow) -> LedgerEntry:
    """The ledger entry a :data:`PendingRow` stands for.

    Args:
        row: ``(message, due_at, timezone)``.

    Returns:
        The PENDING entry, carrying the message.
    """
    message, due_at, timezone = row
    return LedgerEntry(
        message.run_id,
        message.action_id,
        message.profile_id,
        message.campaign_id,
        message.channel,
        LedgerState.PENDING,
        address=message.address,
        due_at=due_at,
        timezone=timezone,
        message=message,
    )


def settled_entry(entry: LedgerEntry, row: OutcomeRow) -> LedgerEntry:
    """``entry`` after the outcome ``row``.

    Args:
        entry: The PENDING entry.
        row: ``(action_id, profile_id, state, attempts, provider_message_id, error,
            next_attempt_at)``.

    Returns:
        The entry in its new state (the message kept only for RETRY).
    """
    _, _, state, attempts, provider_message_id, error, next_attempt_at = row
    return LedgerEntry(
        entry.run_id,
        entry.action_id,
        entry.profile_id,
        entry.campaign_id,
        entry.channel,
        state,
        None,
        attempts,
        next_attempt_at,
        provider_message_id,
        entry.address,
        entry.due_at,
        entry.timezone,
        None,
        error,
        entry.message if state is LedgerState.RETRY else None,
    )
