"""``kit.rules``: the kit-wide business rules, quiet hours and frequency caps per channel.

The rules are kept in the store (a SQLite kit finds them again after a
restart) and read by every run when it starts a batch, so a change applies to
messages not yet sent. They apply to marketing messages only; campaigns may
add their own quiet hours (``create_campaign(quiet_hours=...)``).

Changing them is a host-level act, like defining audiences: the host decides
who may call these methods.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import attrs

from campaignkit.domain.channels import ChannelType
from campaignkit.domain.checks import describe
from campaignkit.domain.rules import BusinessRules, FrequencyCap, QuietHours, RuleBook
from campaignkit.errors import NotFound, ValidationError
from campaignkit.ports import Store

Change = Callable[[BusinessRules], BusinessRules]


def _channel(channel: ChannelType | str) -> ChannelType:
    if isinstance(channel, str):  # ChannelType(x) would repr a deep x in its own error
        try:
            return ChannelType(channel)
        except ValueError:
            pass
    names = ", ".join(c.value for c in ChannelType)
    raise ValidationError([f"unknown channel {_shown(channel)}; use one of {names}"])


def _require(value: object, kind: type[object], label: str) -> None:
    if not isinstance(value, kind):
        raise ValidationError([f"{label} takes a ck.{kind.__name__}, not {_shown(value)}"])


def _shown(value: object) -> str:
    """``repr(value)`` for messages, cut short; never recursive, never raising."""
    if isinstance(value, (Mapping, list, tuple, set, frozenset)):
        return describe(value).partition(" ")[2]
    try:
        return repr(value)[:200]
    except Exception:  # a caller's broken __repr__ must not hide the real problem
        return f"<{type(value).__name__} object>"


class BusinessRuleRegistry:
    """Quiet hours and frequency caps per channel, kept in the store.

    Every change is one transaction; adding a rule that is already there
    changes nothing.

    Args:
        store: Where the rule book is kept.
    """

    def __init__(self, store: Store) -> None:
        self._store = store

    def book(self) -> RuleBook:
        """Every channel's rules, as stored."""
        with self._store.unit_of_work() as uow:
            return uow.rules.get()

    def for_channel(self, channel: ChannelType | str) -> BusinessRules:
        """The rules of one channel (none: an empty ``BusinessRules``)."""
        return self.book().for_channel(_channel(channel))

    def add_quiet_hours(self, channel: ChannelType | str, rule: QuietHours) -> BusinessRules:
        """Add a quiet period to ``channel``'s marketing messages.

        Returns:
            The channel's rules after the change.

        Raises:
            ValidationError: an unknown channel, or ``rule`` is not a ``QuietHours``.
        """
        _require(rule, QuietHours, "add_quiet_hours")

        def add(rules: BusinessRules) -> BusinessRules:
            if rule in rules.quiet_hours:
                return rules
            return attrs.evolve(rules, quiet_hours=(*rules.quiet_hours, rule))

        return self._change(channel, add)

    def add_frequency_cap(self, channel: ChannelType | str, cap: FrequencyCap) -> BusinessRules:
        """Cap how many marketing messages a profile gets on ``channel`` per period.

        Caps count every campaign's marketing sends on the channel; with
        several caps, each must allow the message.

        Returns:
            The channel's rules after the change.

        Raises:
            ValidationError: an unknown channel, or ``cap`` is not a ``FrequencyCap``.
        """
        _require(cap, FrequencyCap, "add_frequency_cap")

        def add(rules: BusinessRules) -> BusinessRules:
            return rules if cap in rules.caps else attrs.evolve(rules, caps=(*rules.caps, cap))

        return self._change(channel, add)

    def remove_quiet_hours(self, channel: ChannelType | str, rule: QuietHours) -> BusinessRules:
        """Remove a quiet period from ``channel``.

        Raises:
            NotFound: the channel has no such quiet period.
            ValidationError: an unknown channel, or ``rule`` is not a ``QuietHours``.
        """
        _require(rule, QuietHours, "remove_quiet_hours")

        def remove(rules: BusinessRules) -> BusinessRules:
            if rule not in rules.quiet_hours:
                raise NotFound(f"{_channel(channel)} quiet hours", f"{rule.start}-{rule.end}")
            kept = tuple(r for r in rules.quiet_hours if r != rule)
            return attrs.evolve(rules, quiet_hours=kept)

        return self._change(channel, remove)

    def remove_frequency_cap(self, channel: ChannelType | str, cap: FrequencyCap) -> BusinessRules:
        """Remove a frequency cap from ``channel``.

        Raises:
            NotFound: the channel has no such cap.
            ValidationError: an unknown channel, or ``cap`` is not a ``FrequencyCap``.
        """
        _require(cap, FrequencyCap, "remove_frequency_cap")

        def remove(rules: BusinessRules) -> BusinessRules:
            if cap not in rules.caps:
                raise NotFound(
                    f"{_channel(channel)} frequency cap", f"{cap.max} per {cap.per.in_words()}"
                )
            return attrs.evolve(rules, caps=tuple(c for c in rules.caps if c != cap))

        return self._change(channel, remove)

    def clear(self, channel: ChannelType | str | None = None) -> None:
        """Remove every rule of ``channel``, or of every channel when None.

        Raises:
            ValidationError: an unknown channel.
        """
        chosen = None if channel is None else _channel(channel)
        with self._store.unit_of_work() as uow:
            book = uow.rules.get()
            if chosen is None:
                channels: dict[ChannelType, BusinessRules] = {}
            else:
                channels = {c: r for c, r in book.channels.items() if c is not chosen}
            if channels != dict(book.channels):
                uow.rules.save(attrs.evolve(book, channels=channels))

    def _change(self, channel: ChannelType | str, change: Change) -> BusinessRules:
        chosen = _channel(channel)
        with self._store.unit_of_work() as uow:
            book = uow.rules.get()
            before = book.for_channel(chosen)
            after = change(before)
            if after == before:
                return before
            channels = dict(book.channels)
            if after == BusinessRules():
                channels.pop(chosen, None)
            else:
                channels[chosen] = after
            uow.rules.save(attrs.evolve(book, channels=channels))
        return after

    def __repr__(self) -> str:
        return f"BusinessRuleRegistry({self._store!r})"
