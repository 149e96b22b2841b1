"""User sessions: every verb a person can perform, each checked by the policy first.

``UserSession`` gathers the verb groups: campaigns (:mod:`.campaigns`),
surfaces (:mod:`.surfaces`), approvals (:mod:`.approvals`), access
(:mod:`.access`), export/import (:mod:`.transfer`), delivery
(:mod:`.delivery`), API triggers (:mod:`.triggers`, many at once in
:mod:`.throughput`) and the pre-activation
check (:mod:`.checks`); :mod:`.base` holds the
shared plumbing.
"""

from campaignkit.session.access import AccessVerbs
from campaignkit.session.approvals import ApprovalVerbs
from campaignkit.session.campaigns import CampaignVerbs
from campaignkit.session.checks import CheckResult, CheckVerbs
from campaignkit.session.delivery import DeliveryVerbs, ProofResult
from campaignkit.session.surfaces import SURFACE_HOLDING_STATUSES, SurfaceVerbs
from campaignkit.session.throughput import ThroughputVerbs
from campaignkit.session.transfer import TransferVerbs
from campaignkit.session.triggers import TriggerVerbs


class UserSession(
    CampaignVerbs,
    SurfaceVerbs,
    ApprovalVerbs,
    AccessVerbs,
    TransferVerbs,
    DeliveryVerbs,
    TriggerVerbs,
    ThroughputVerbs,
    CheckVerbs,
):
    """Acts for one user. Obtain it with ``kit.as_user(user_id)``.

    Every verb checks the permission policy first; a denial raises
    ``PermissionDenied`` and changes nothing.

    Attributes:
        user: The acting user id.
    """


__all__ = ["SURFACE_HOLDING_STATUSES", "CheckResult", "ProofResult", "UserSession"]
