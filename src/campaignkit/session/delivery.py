"""Delivery verbs: reports and proofs."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from campaignkit.delivery.render import CompiledContent, MissingAttribute, TemplateFailed
from campaignkit.delivery.report import CampaignReport, build_report
from campaignkit.domain import checks
from campaignkit.domain.campaign_enums import Category
from campaignkit.domain.delivery import Message, SendResult, idempotency_key
from campaignkit.domain.recipients import address_of
from campaignkit.errors import DeliveryError, ValidationError
from campaignkit.permissions import Permission as P
from campaignkit.session.base import SessionBase

MAX_PROOF_PROFILES = 10


@attrs.frozen
class ProofResult:
    """What became of one proof message.

    Attributes:
        message: The rendered proof (``proof=True``).
        result: The channel's answer.
    """

    message: Message
    result: SendResult


def proof_profile_ids(profile_ids: object) -> tuple[str, ...]:
    """Check the argument types of ``send_proof``'s ``profile_ids`` (how many: the verb).

    Raises:
        ValidationError: a bare string, not a collection, or ids that are not
            non-empty UTF-8 strings.
    """
    problems: list[str] = []
    ids = checks.identifiers(problems, "profile_ids", profile_ids, max_items=1000)
    checks.raise_if(problems, "proof")
    return ids


class DeliveryVerbs(SessionBase):
    """Reports and proofs of a user session."""

    def report(self, campaign_id: str) -> CampaignReport:
        """What the campaign's runs did (needs ``campaign_report.read``)."""
        checks.require_ids(campaign_id=campaign_id)
        with self._kit.store.unit_of_work() as uow:
            campaign = self._load(uow, campaign_id, P.CAMPAIGN_REPORT_READ)
            runs = uow.runs.for_campaign(campaign.id)
        return build_report(campaign.id, campaign.name, runs)

    def send_proof(self, campaign_id: str, profile_ids: Sequence[str]) -> list[ProofResult]:
        """Send the newest version to up to 10 test profiles (needs ``campaign.write``).

        Proofs render exactly like a run, carry ``proof=True`` and are never
        counted in reports; consent and suppression do not apply (a proof goes
        to a test profile, not to the audience).

        Raises:
            ValidationError: no or more than 10 profiles, unknown profiles,
                profiles without an address, or templates that cannot render.
        """
        checks.require_ids(campaign_id=campaign_id)
        ids = list(dict.fromkeys(proof_profile_ids(profile_ids)))
        kit = self._kit
        with kit.store.unit_of_work() as uow:
            campaign = self._load(uow, campaign_id, P.CAMPAIGN_WRITE)
            version = campaign.newest_version
            surfaces = {a.id: uow.surfaces.find(a.surface_id) for a in version.actions}
        problems = []
        if not 1 <= len(ids) <= MAX_PROOF_PROFILES:
            problems.append(f"send a proof to 1 to {MAX_PROOF_PROFILES} profiles, not {len(ids)}")
        found = kit.profiles.get_many(ids)
        problems.extend(f"profile {pid!r} does not exist" for pid in ids if pid not in found)
        namespace = version.namespace or ""
        messages: list[Message] = []
        run_id = f"proof-{kit.ids('proof')}"
        for action in version.actions:
            surface = surfaces[action.id]
            if surface is None:
                problems.append(f"action {action.id}: surface {action.surface_id!r} does not exist")
                continue
            content = CompiledContent.of(action.content.templates())
            for pid in ids:
                profile = found.get(pid)
                if profile is None:
                    continue
                address = address_of(profile, action.channel, namespace)
                if address is None:
                    problems.append(f"profile {pid!r} has no {action.channel} address")
                    continue
                try:
                    fields = content.render(profile.attributes, {})
                except (MissingAttribute, TemplateFailed) as exc:
                    problems.append(f"action {action.id} for profile {pid!r}: {exc}")
                    continue
                messages.append(
                    Message(
                        run_id=run_id,
                        campaign_id=campaign.id,
                        action_id=action.id,
                        profile_id=pid,
                        channel=action.channel,
                        address=address,
                        idempotency_key=idempotency_key(run_id, action.id, pid),
                        fields=fields,
                        settings=surface.settings,
                        proof=True,
                        transactional=campaign.category is Category.TRANSACTIONAL,
                    )
                )
        if problems:
            raise ValidationError(problems, subject=f"proof of campaign {campaign.id!r}")
        results: list[ProofResult] = []
        for channel_type in dict.fromkeys(m.channel for m in messages):
            channel = kit.channels.get(channel_type)
            if channel is None:
                raise DeliveryError(f"no channel is wired for {channel_type}")
            batch = [m for m in messages if m.channel is channel_type]
            results.extend(map(ProofResult, batch, channel.send(batch)))
        return results
