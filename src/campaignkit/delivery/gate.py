"""The send-time gate: rules checked when a message is about to go out.

In order (the order exclusions are counted in): the send window, frequency
caps, quiet hours, then the rate limit. Quiet hours and caps apply to
marketing messages only; the window and the rate limit to every message.
The window bounds how late a message's first attempt may go; a retry is
bounded by the delivery settings' backoff and attempts instead.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Final

import attrs
import pendulum

from campaignkit.delivery.tally import excluded, queued
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import ExclusionReason, LedgerEntry
from campaignkit.domain.rules import (
    BusinessRules,
    FrequencyCap,
    QuietHours,
    quiet_until,
    recipient_zone,
)
from campaignkit.domain.text_enum import TextEnum
from campaignkit.errors import ValidationError


class Verdict(TextEnum):
    """What the gate decided for one message."""

    SEND = "send"
    QUEUE = "queue"
    EXCLUDE = "exclude"


@attrs.frozen
class GateRules:
    """Everything the gate needs to know about a run, prepared once.

    Attributes:
        marketing: Caps and quiet hours apply.
        campaign_zone: Falls back for recipients without a zone.
        send_window: How long after its due time a message may still go.
        channel_rules: Business rules of each channel.
        campaign_quiet_hours: Quiet hours attached to the campaign.
        rate_limits: Messages per second, per action id (absent: unlimited).
    """

    marketing: bool
    campaign_zone: str
    send_window: pendulum.Duration
    channel_rules: Mapping[ChannelType, BusinessRules]
    campaign_quiet_hours: tuple[QuietHours, ...]
    rate_limits: Mapping[str, int]

    def quiet_hours(self, channel: ChannelType) -> tuple[QuietHours, ...]:
        """Every quiet-hours rule of a channel (kit-wide and campaign)."""
        rules = self.channel_rules.get(channel, _NO_RULES)
        return (*rules.quiet_hours, *self.campaign_quiet_hours)


_SECOND: Final = pendulum.duration(seconds=1)
_minus: Final = datetime.datetime.__sub__  # plain datetime arithmetic, not pendulum's
_NO_RULES: Final = BusinessRules()


@attrs.define
class RateState:
    """Rate-limit slots handed out so far, per action (persisted on the run)."""

    sent: dict[str, int]
    origin: dict[str, pendulum.DateTime]

    def slot(
        self,
        action_id: str,
        per_second: int,
        now: pendulum.DateTime,
        held: pendulum.DateTime | None = None,
    ) -> pendulum.DateTime:
        """The slot of a message: the one it ``held`` if that still stands, else a new one.

        Slots come ``per_second`` to a second from an origin: message n goes
        ``n // per_second`` seconds after it. A held slot whose second is over
        (a late tick, a restart) is replaced, so late messages do not all go at
        once. Once every reserved second is over (a pause: a later wave, a later
        time zone, the end of quiet hours), the bucket is full again and the
        origin moves to ``now``, so the rate holds in every second.
        """
        if held is not None and held > now - _SECOND:
            return held
        origin = self.origin.get(action_id)
        number = self.sent.get(action_id, 0)
        used_seconds = -(-number // per_second)  # whole seconds the reserved slots span
        if origin is None or now >= origin.add(seconds=used_seconds):
            origin, number = now, 0
            self.origin[action_id] = now
        self.sent[action_id] = number + 1
        return origin.add(seconds=number // per_second)


def gate_needed(
    rules: GateRules, due: Sequence[pendulum.DateTime | None], now: pendulum.DateTime
) -> bool:
    """False when the gate would let every one of these first sends through unchanged.

    That is when no action has a rate limit, caps and quiet hours do not apply
    (a transactional campaign, or no channel of the run has any) and no due time
    is outside the send window. The runner then skips the gate and its per-message
    work entirely.

    Args:
        rules: The run's rules.
        due: The due times of the messages (their first attempt).
        now: The tick's instant.
    """
    if rules.rate_limits or (rules.campaign_quiet_hours and rules.marketing):
        return True
    if rules.marketing:
        for channel_rules in rules.channel_rules.values():
            if channel_rules.caps or channel_rules.quiet_hours:
                return True
    window = rules.send_window
    if now.tzinfo is pendulum.UTC and not window.years and not window.months:
        opened_after = _minus(now, window)  # exact, without pendulum's calendar arithmetic
    else:
        opened_after = now - window
    return any(at is not None and at < opened_after for at in set(due))


def gate(
    entries: Sequence[LedgerEntry],
    *,
    rules: GateRules,
    rate: RateState,
    contacts: Mapping[tuple[ChannelType, str], Sequence[int]],
    now: pendulum.DateTime,
) -> list[tuple[Verdict, LedgerEntry]]:
    """Decide, in the gate's order, what happens to each message ready at ``now``.

    Args:
        entries: PENDING-to-be, QUEUED or RETRY entries whose time has come.
        rules: The run's rules.
        rate: Rate-limit state (updated as slots are reserved).
        contacts: Marketing messages each (channel, profile) already got, one
            count per cap of the channel (in its period); the sends this call
            lets through are added.
        now: The tick's instant.

    Returns:
        One (verdict, entry) per input entry: the entry as it should be
        recorded (EXCLUDED or QUEUED), or as it was (SEND).
    """
    counts = {key: list(values) for key, values in contacts.items()}
    decided: list[tuple[Verdict, LedgerEntry]] = []
    # due + window < now  <=>  due < now - window (the window is an absolute duration)
    window_opened_after = now - rules.send_window
    # each channel's caps and quiet hours, looked up once per call, not per message
    caps_of: dict[ChannelType, tuple[FrequencyCap, ...]] = {}
    quiet_of: dict[ChannelType, tuple[QuietHours, ...]] = {}
    if rules.marketing:
        for channel in {entry.channel for entry in entries}:
            caps_of[channel] = rules.channel_rules.get(channel, _NO_RULES).caps
            quiet_of[channel] = rules.quiet_hours(channel)
    for entry in entries:
        first = entry.attempts == 0  # retries follow the backoff, not the window
        if first and entry.due_at is not None and entry.due_at < window_opened_after:
            decided.append((Verdict.EXCLUDE, excluded(entry, ExclusionReason.SEND_WINDOW)))
            continue
        if rules.marketing:
            key = (entry.channel, entry.profile_id)
            caps = caps_of[entry.channel]
            had = counts.setdefault(key, [0] * len(caps))
            if any(number >= cap.max for number, cap in zip(had, caps, strict=True)):
                decided.append((Verdict.EXCLUDE, excluded(entry, ExclusionReason.FREQUENCY_CAP)))
                continue
            quiet_hours = quiet_of[entry.channel]
            if quiet_hours:
                zone, _ = recipient_zone(entry.timezone, rules.campaign_zone)
                try:
                    quiet = quiet_until(quiet_hours, now, zone)
                except ValidationError:  # quiet hours that never end: nothing may go out
                    decided.append((Verdict.EXCLUDE, excluded(entry, ExclusionReason.QUIET_HOURS)))
                    continue
            else:  # no quiet hours on this channel: nothing to ask
                quiet = None
            if quiet is not None:
                until, discard = quiet
                if discard:
                    decided.append((Verdict.EXCLUDE, excluded(entry, ExclusionReason.QUIET_HOURS)))
                else:  # a reserved rate slot is for now: it is reserved again on release
                    decided.append((Verdict.QUEUE, queued(attrs.evolve(entry, slot=None), until)))
                continue
        limit = rules.rate_limits.get(entry.action_id)
        if limit is not None:
            slot = rate.slot(entry.action_id, limit, now, held=entry.slot)
            if slot > now:
                waiting = attrs.evolve(entry, slot=slot)
                decided.append((Verdict.QUEUE, queued(waiting, slot)))
                continue
        if rules.marketing:
            key = (entry.channel, entry.profile_id)
            counts[key] = [number + 1 for number in counts.get(key, [])]
        decided.append((Verdict.SEND, entry))
    return decided
