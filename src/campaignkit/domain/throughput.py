"""Many unitary triggers accepted at once (high throughput): the request value and packing.

``UserSession.trigger_many`` accepts a list of :class:`TriggerRequest` in one
unit of work and delivers the accepted requests of a campaign together in as
few runs as :class:`Packer` allows. Pure values and checks; the verb lives in
``campaignkit.session.throughput``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Generic, TypeVar

import attrs

from campaignkit.domain import checks
from campaignkit.domain.triggers import Recipient

MAX_REQUESTS: Final = 1_000
"""Requests per ``trigger_many`` call: one unit of work holds them all, so it is bounded
(1,000 requests of 20 recipients: 20,000 recipients)."""
T = TypeVar("T")

RUN_RECIPIENTS: Final = 2_000
"""Recipients a shared run takes at most; the requests of one call that do not fit go to
another run (a run's recipients are written once, in one document, when it is added)."""


@attrs.frozen(slots=False)
class TriggerRequest:
    """One unitary trigger among those given to ``UserSession.trigger_many``.

    Attributes:
        campaign_id: The API-triggered campaign.
        recipients: 1 to 20 recipients, as for ``UserSession.trigger``.
        request_id: The caller's idempotency key (unique per campaign).
    """

    campaign_id: str
    recipients: Sequence[Recipient]
    request_id: str

    def __attrs_post_init__(self) -> None:
        """Refuse values of the wrong type, naming the argument.

        Blank ids, the number of recipients and their payload are checked by
        ``trigger_many``, which answers each request on its own.

        Raises:
            ValidationError: an id that is not a string, or ``recipients`` not
                a list or tuple of ``Recipient`` values.
        """
        problems: list[str] = []
        for name, value in (("campaign_id", self.campaign_id), ("request_id", self.request_id)):
            checks.text(problems, name, value, max_length=checks.MAX_ID, allow_empty=True)
        if isinstance(self.recipients, (list, tuple)):
            for number, item in enumerate(self.recipients):
                checks.instance(problems, f"recipients[{number}]", item, Recipient)
        else:
            problems.append(
                "recipients must be a list of ck.Recipient values, not "
                f"{checks.describe(self.recipients)}"
            )
        checks.raise_if(problems, "trigger request")


def requests_argument(requests: object) -> list[TriggerRequest]:
    """Check that ``requests`` is a list of 1 to ``MAX_REQUESTS`` ``TriggerRequest`` values.

    Raises:
        ValidationError: not a list or tuple, empty, too long, or an item that
            is not a ``TriggerRequest``.
    """
    problems: list[str] = []
    if not isinstance(requests, (list, tuple)):
        problems.append(
            f"requests must be a list of ck.TriggerRequest values, not {checks.describe(requests)}"
        )
    elif not 1 <= len(requests) <= MAX_REQUESTS:
        problems.append(
            f"requests must hold 1 to {MAX_REQUESTS} trigger requests, not {len(requests)}: "
            "split a longer list over several calls"
        )
    else:
        for number, item in enumerate(requests):
            checks.instance(problems, f"requests[{number}]", item, TriggerRequest)
    checks.raise_if(problems, "trigger_many")
    assert isinstance(requests, (list, tuple))
    return list(requests)


class Packer(Generic[T]):
    """Assigns the accepted requests of one campaign to shared runs.

    A run holds at most ``limit`` recipients and each profile once (the
    ledger keeps one outcome per run, action and profile): a request goes to
    the first run it fits, else to a new one.
    """

    def __init__(self, limit: int = RUN_RECIPIENTS) -> None:
        self._limit = limit
        self.runs: list[tuple[list[T], set[str]]] = []
        """Each run's items (in order) and the profile ids it holds."""

    def place(self, profile_ids: Sequence[str], items: Sequence[T]) -> tuple[int, int, int]:
        """Put one request's recipients in a run.

        Args:
            profile_ids: The profile id of each recipient (distinct).
            items: What the run keeps for each recipient, in the same order.

        Returns:
            ``(run, start, stop)``: the run's number and where the request's
            recipients are in it.
        """
        size = len(items)
        number = next(
            (
                number
                for number, (held, ids) in enumerate(self.runs)
                if len(held) + size <= self._limit and ids.isdisjoint(profile_ids)
            ),
            len(self.runs),
        )
        if number == len(self.runs):
            self.runs.append(([], set()))
        held, ids = self.runs[number]
        start = len(held)
        held.extend(items)
        ids.update(profile_ids)
        return number, start, start + size
