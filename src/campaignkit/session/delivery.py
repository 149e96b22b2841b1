"""Delivery verbs: reports and proofs."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import pendulum

from campaignkit.delivery.proofs import Rendered, render_proofs
from campaignkit.delivery.report import CampaignReport, build_report
from campaignkit.domain import checks
from campaignkit.domain.campaign import Campaign
from campaignkit.domain.delivery import ExclusionReason, Message, SendResult
from campaignkit.domain.events import Outcome
from campaignkit.domain.proofs import (
    MAX_PROOF_PROFILES,
    cap_problems,
    count_problems,
    proof_entry,
    recipient_problems,
    require_proofable,
    with_proof,
)
from campaignkit.errors import DeliveryError
from campaignkit.permissions import Permission as P
from campaignkit.ports import UnitOfWork
from campaignkit.session.base import SessionBase

__all__ = ["MAX_PROOF_PROFILES", "DeliveryVerbs", "ProofResult"]


@attrs.frozen
class ProofResult:
    """What became of one proof message.

    Attributes:
        message: The rendered proof (``proof=True``), sent or not.
        result: The channel's answer; None when the message was not sent.
        excluded: Why it was not sent (``SUPPRESSED``: the test profile's
            address is suppressed on that channel); None when it was sent.
    """

    message: Message
    result: SendResult | None
    excluded: ExclusionReason | None = None

    @property
    def sent(self) -> bool:
        """True when the message was handed to its channel."""
        return self.excluded is None


class DeliveryVerbs(SessionBase):
    """Reports and proofs of a user session."""

    def report(self, campaign_id: str) -> CampaignReport:
        """What the campaign's runs did (needs ``campaign_report.read``)."""
        with self._kit.store.unit_of_work() as uow:
            campaign = self._load(uow, campaign_id, P.CAMPAIGN_REPORT_READ)
            runs = uow.runs.for_campaign(campaign.id)
        return build_report(campaign.id, campaign.name, runs)

    def send_proof(self, campaign_id: str, profile_ids: Sequence[str]) -> list[ProofResult]:
        """Send the newest version of a campaign to up to 10 test profiles.

        Needs ``campaign.write`` on a DRAFT, SCHEDULED or LIVE campaign. Every
        profile named must be stored with ``Profile(test=True)``; otherwise
        the whole call is refused and nothing is sent. Proofs render exactly
        like a run and carry ``proof=True``; consent does not apply (a test
        profile is an internal inbox) but suppression does: a test profile
        whose address is suppressed gets no message and its result says so.
        A campaign sends at most ``DeliverySettings.proofs_per_hour`` proof
        messages in any rolling hour (a proof that sends nothing costs one).
        Each proof is recorded in the campaign's
        history (action ``proof``) before the messages are handed over; proofs
        never appear in reports.

        Args:
            campaign_id: The campaign to proof.
            profile_ids: 1 to 10 ids of test profiles (a repeated id counts once).

        Returns:
            One result per (action, test profile), in action then profile order.

        Raises:
            NotFound: no such campaign.
            PermissionDenied: the user lacks ``campaign.write`` on it.
            TransitionNotAllowed: the campaign is not DRAFT, SCHEDULED or LIVE.
            ValidationError: no or more than 10 profiles, an unknown or non-test
                profile, a profile without an address, a template that cannot
                render, or the hourly cap reached.
            ConflictError: someone changed the campaign meanwhile; retry.
            DeliveryError: no channel is wired for an action's channel (nothing
                is sent or recorded), or a channel answered a different number of
                results than messages (the proof stays recorded).
        """
        kit = self._kit
        prepared: list[Rendered] = []

        def build(uow: UnitOfWork, campaign: Campaign, now: pendulum.DateTime) -> Outcome:
            require_proofable(campaign)
            problems: list[str] = []
            named = checks.identifiers(problems, "profile_ids", profile_ids)
            subject = f"proof of campaign {campaign.id!r}"
            checks.raise_if(problems, subject)
            ids = list(dict.fromkeys(named))
            checks.raise_if(count_problems(ids), subject)
            found = kit.profiles.get_many(ids)
            checks.raise_if(recipient_problems(ids, found), subject)
            version = campaign.newest_version
            surfaces = {a.id: uow.surfaces.find(a.surface_id) for a in version.actions}
            rendered = render_proofs(
                campaign,
                surfaces,
                [found[pid] for pid in ids],
                run_id=f"proof-{kit.ids('proof')}",
                suppressed=uow.suppressions.suppressed,
                limits=kit.delivery.render_limits,
                signer=kit.unsubscribe_signer,
            )
            problems = list(rendered.problems)
            sending = rendered.to_send
            if not problems:
                problems = cap_problems(campaign, now, len(sending), kit.delivery.proofs_per_hour)
            checks.raise_if(problems, subject)
            missing = sorted({m.channel.value for m in sending if m.channel not in kit.channels})
            if missing:
                raise DeliveryError(f"no channel is wired for {', '.join(missing)}")
            skipped = [rendered.messages[i].profile_id for i in sorted(rendered.excluded)]
            entry = proof_entry(
                campaign,
                now=now,
                actor=self.user,
                messages=len(sending),
                recipients=ids,
                suppressed=list(dict.fromkeys(skipped)),
            )
            prepared.append(rendered)
            return Outcome(with_proof(campaign, entry), ())

        self._mutate(campaign_id, P.CAMPAIGN_WRITE, build)
        (rendered,) = prepared
        answers: dict[int, SendResult] = {}
        messages = rendered.messages
        for channel_type in dict.fromkeys(m.channel for m in rendered.to_send):
            indexes = [
                i
                for i, m in enumerate(messages)
                if m.channel is channel_type and i not in rendered.excluded
            ]
            results = kit.channels[channel_type].send([messages[i] for i in indexes])
            if len(results) != len(indexes):
                raise DeliveryError(
                    f"the {channel_type} channel answered {len(results)} results "
                    f"for {len(indexes)} proof messages"
                )
            answers.update(zip(indexes, results, strict=True))
        return [
            ProofResult(message, answers.get(i), rendered.excluded.get(i))
            for i, message in enumerate(messages)
        ]
