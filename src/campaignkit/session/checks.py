"""``session.check``: what activating a campaign would run into, before it is activated.

The check changes nothing. It lists the problems activation would refuse
(the same preflight the ``activate`` verb runs) and warnings about what
would quietly send less than expected: a sample render against a few
audience members (missing attributes, template failures, members who would
be excluded), the audience size, and an audience in which nobody sampled
would receive a message.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import attrs

from campaignkit.delivery.render import (
    CompiledContent,
    MissingAttribute,
    RenderLimits,
    TemplateFailed,
)
from campaignkit.domain import checks
from campaignkit.domain.campaign import Action, Campaign, CampaignVersion, Verb
from campaignkit.domain.campaign_enums import CampaignStatus, CampaignType, Category
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import ExclusionReason
from campaignkit.domain.lifecycle import pending_version
from campaignkit.domain.profile import Profile
from campaignkit.domain.recipients import Exclude, decide
from campaignkit.domain.surface import EmailSettings
from campaignkit.errors import TransitionNotAllowed
from campaignkit.permissions import Permission as P
from campaignkit.ports import UnitOfWork
from campaignkit.session.base import SessionBase

SAMPLE_SIZE = 5
"""How many audience members ``check`` renders against (the first ones streamed)."""
_SAMPLE_VARIABLES = {"unsubscribe_url": "https://unsubscribe.invalid/?token=sample"}
"""Message variables of a sample render: a stand-in URL (preflight checks one can be given)."""


@attrs.frozen
class CheckResult:
    """What ``session.check(campaign_id)`` found.

    Attributes:
        campaign_id: The campaign checked.
        version: The version activation would run (None when there is none).
        problems: What activation would refuse, one sentence each.
        warnings: What would not stop activation but would send less than
            expected (missing attributes, template failures, exclusions in
            the sample, an empty audience), one sentence each.
        audience_size: Members of the audience, when the source can count them.
        sampled: Audience members the templates were rendered against.
    """

    campaign_id: str
    version: int | None
    problems: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    audience_size: int | None = None
    sampled: int = 0

    @property
    def ok(self) -> bool:
        """True when activation would be accepted (there may still be warnings)."""
        return not self.problems


class CheckVerbs(SessionBase):
    """The pre-activation check of a user session (``campaign.read``)."""

    def check(self, campaign_id: str) -> CheckResult:
        """Check a campaign before activating it; nothing is changed.

        Needs ``campaign.read``. Lists every problem activation would refuse
        (``ValidationError`` of ``activate``, or a status that does not allow
        it) and warnings: an approval policy that applies to this user, and
        what a sample render against the first ``SAMPLE_SIZE`` audience
        members finds (data the templates need that they lack, template
        failures, members who would be excluded and why), an empty audience,
        and a sample in which nobody would receive a message.

        Args:
            campaign_id: The campaign to check.

        Returns:
            The problems and warnings found; ``.ok`` is True when there are no problems.

        Raises:
            ValidationError: ``campaign_id`` is not a non-empty string.
            NotFound: no such campaign.
            PermissionDenied: the user may not read campaigns.
        """
        checks.require_ids(campaign_id=campaign_id)
        kit = self._kit
        now = kit.clock.now()
        problems: list[str] = []
        with kit.store.unit_of_work() as uow:
            campaign = self._load(uow, campaign_id, P.CAMPAIGN_READ)
            try:
                version: CampaignVersion | None = pending_version(campaign, Verb.ACTIVATE)
            except TransitionNotAllowed as exc:
                problems.append(str(exc))
                version = campaign.draft_version or campaign.live_version
            if version is None:  # pragma: no cover - every campaign has a draft or live version
                return CheckResult(campaign.id, None, tuple(problems))
            check_start = campaign.status is not CampaignStatus.LIVE
            problems.extend(
                kit.preflight.problems(uow, campaign, version, now=now, check_start=check_start)
            )
            policy = self._governing_policy(uow, campaign, version)
            unsubscribe = self._unsubscribe_warnings(uow, campaign, version)
        warnings, size, sampled = self._sample(campaign, version)
        warnings.extend(unsubscribe)
        if policy is not None:
            warnings.insert(
                0,
                f"approval policy {policy.name!r} applies when {self.user!r} submits it: "
                "use request_approval(), activate() would raise ApprovalRequired",
            )
        return CheckResult(
            campaign.id, version.number, tuple(problems), tuple(warnings), size, sampled
        )

    def _unsubscribe_warnings(
        self, uow: UnitOfWork, campaign: Campaign, version: CampaignVersion
    ) -> list[str]:
        """Marketing email actions whose messages would carry no one-click unsubscribe."""
        if campaign.category is not Category.MARKETING:
            return []
        warnings = []
        why = "mailbox providers require one-click unsubscribe for bulk senders"
        for number, action in enumerate(version.actions, start=1):
            surface = uow.surfaces.find(action.surface_id)
            if action.channel is not ChannelType.EMAIL or surface is None:
                continue
            label = f"action {number} ({action.channel})"
            settings = surface.settings
            if not isinstance(settings, EmailSettings) or settings.unsubscribe_url is None:
                warnings.append(
                    f"{label}: surface {surface.name!r} has no unsubscribe_url, so its "
                    f"marketing email carries no one-click unsubscribe ({why}); set "
                    "EmailSettings(unsubscribe_url='https://...') on the surface"
                )
            elif self._kit.unsubscribe_signer is None:
                warnings.append(
                    f"{label}: the kit has no secret to sign unsubscribe links, so its "
                    f"marketing email carries no one-click unsubscribe ({why}); pass "
                    "secret=... when creating the kit"
                )
        return warnings

    def _sample(
        self, campaign: Campaign, version: CampaignVersion
    ) -> tuple[list[str], int | None, int]:
        """Warnings from rendering against the first audience members; size; how many."""
        audience = version.audience
        if audience is None:
            note = "it has no audience: recipients come with each trigger call"
            return [f"nothing was sampled: {note}"], None, 0
        audiences = self._kit.audiences
        warnings: list[str] = []
        try:
            size = audiences.count(audience)
            members = next(
                iter(
                    audiences.members(
                        audience, namespace=version.namespace or "", batch_size=SAMPLE_SIZE
                    )
                ),
                [],
            )
        except Exception as exc:  # a host audience source may fail in any way
            return (
                [f"audience {audience!r} could not be read: {type(exc).__name__}: {exc}"],
                None,
                0,
            )
        sample = list(members)[:SAMPLE_SIZE]
        if size == 0 or not sample:
            warnings.append(f"audience {audience!r} is empty: nobody would receive a message")
            return warnings, size, 0
        contents = _compiled(version.actions)
        empty_context = campaign.type is CampaignType.API_TRIGGERED
        receiving = 0
        reasons: Counter[ExclusionReason] = Counter()
        for profile in sample:
            outcome = _try(
                campaign,
                version,
                contents,
                profile,
                empty_context=empty_context,
                limits=self._kit.delivery.render_limits,
            )
            warnings.extend(outcome.warnings)
            reasons.update(outcome.excluded)
            receiving += outcome.receives
        if reasons:
            listed = ", ".join(f"{reasons[r]} {r}" for r in ExclusionReason if reasons[r])
            warnings.append(
                f"in a sample of {len(sample)} audience members, messages would be "
                f"excluded: {listed}"
            )
        if receiving == 0:
            warnings.append(
                f"none of the {len(sample)} sampled audience members would receive a message"
                + ("" if size is None else f" (audience of {size})")
            )
        return warnings, size, len(sample)


@attrs.frozen
class _Tried:
    warnings: list[str]
    excluded: list[ExclusionReason]
    receives: int


def _compiled(actions: Sequence[Action]) -> dict[str, CompiledContent]:
    """Compiled content per action id; an action whose templates do not compile is left out.

    Preflight reports a template that does not compile as a problem already.
    """
    compiled = {}
    for action in actions:
        try:
            compiled[action.id] = CompiledContent.of(action.content.templates())
        except Exception:  # preflight reports it as a problem
            continue
    return compiled


def _try(
    campaign: Campaign,
    version: CampaignVersion,
    contents: dict[str, CompiledContent],
    profile: Profile,
    *,
    empty_context: bool,
    limits: RenderLimits,
) -> _Tried:
    """Decide and render one sampled member for every action."""
    warnings: list[str] = []
    excluded: list[ExclusionReason] = []
    receives = 0
    who = f"profile {profile.id!r}"
    for action in version.actions:
        label = f"action {action.id!r} ({action.channel})"
        try:
            verdict = decide(
                profile,
                channel=action.channel,
                namespace=version.namespace or "",
                category=campaign.category,
            )
            if isinstance(verdict, Exclude):
                excluded.append(verdict.reason)
                continue
            content = contents.get(action.id)
            if content is None:
                continue
            content.render(profile.attributes, {}, limits, _SAMPLE_VARIABLES)
        except MissingAttribute as exc:
            where = " with an empty API context" if empty_context else ""
            warnings.append(
                f"{who}, {label}: the template needs data the profile lacks{where} "
                f"({exc.path}); that recipient would be excluded as missing_attribute"
            )
            excluded.append(ExclusionReason.MISSING_ATTRIBUTE)
            continue
        except TemplateFailed as exc:
            warnings.append(f"{who}, {label}: the template fails to render: {exc}")
            continue
        except Exception as exc:  # host profile data may be unusable in any way
            warnings.append(
                f"{who}, {label}: the profile data cannot be used: {type(exc).__name__}: {exc}"
            )
            continue
        receives += 1
    return _Tried(warnings, excluded, min(receives, 1))
