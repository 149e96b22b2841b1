"""campaignkit: an embeddable, fully typed SDK for multi-channel campaigns.

Start with :meth:`CampaignKit.in_memory`, give users product profiles with
``kit.access.assign``, act for them with ``kit.as_user``, and move time with
``kit.tick()`` or ``kit.run_until()``.
"""

from campaignkit.access import AccessDirectory
from campaignkit.adapters.console import ConsoleChannel
from campaignkit.adapters.memory import InMemoryAudienceSource, InMemoryProfileStore, InMemoryStore
from campaignkit.adapters.smtp import SMTPChannel
from campaignkit.adapters.sqlite import SQLiteProfileStore, SQLiteStore
from campaignkit.adapters.webhook import WebhookChannel
from campaignkit.audiences import AudienceRegistry
from campaignkit.business_rules import BusinessRuleRegistry
from campaignkit.clock import Clock, SettableClock, SystemClock, WaitableClock
from campaignkit.delivery.budget import (
    RenderLimits,
)
from campaignkit.delivery.report import CampaignReport, RunReport
from campaignkit.delivery.runner import DeliverySettings
from campaignkit.domain.access import AccessAuditEntry, AccessChange, Principal
from campaignkit.domain.approval import (
    ApprovalAction,
    ApprovalEntry,
    ApprovalHistory,
    ApprovalPolicy,
    PolicyConditions,
    PolicyStatus,
    Review,
)
from campaignkit.domain.audience import AudienceStatus
from campaignkit.domain.calendar import Calendar, CalendarEntry
from campaignkit.domain.campaign import Action, Campaign, CampaignVersion, HistoryEntry, Verb
from campaignkit.domain.campaign_enums import (
    ALL_STATUSES,
    DEFAULT_LIST_STATUSES,
    CampaignStatus,
    CampaignType,
    Category,
)
from campaignkit.domain.channels import ChannelType, Content, EmailContent, PushContent, SmsContent
from campaignkit.domain.delivery import (
    Accepted,
    ActionCounts,
    ExclusionReason,
    FeedbackEvent,
    FeedbackRecord,
    LedgerEntry,
    LedgerState,
    Message,
    OutcomeRow,
    PendingRow,
    PermanentFailure,
    Run,
    RunKind,
    RunRecipient,
    RunStatus,
    SendResult,
    TransientFailure,
)
from campaignkit.domain.events import ApprovalEvent, CampaignChanged, CampaignRemoved, DomainEvent
from campaignkit.domain.lifecycle import TRANSITIONS, LifecycleRules
from campaignkit.domain.listing import Page
from campaignkit.domain.profile import Profile
from campaignkit.domain.rules import BusinessRules, FrequencyCap, QuietHours, RuleBook
from campaignkit.domain.schedule import Frequency, Recurrence, Schedule, Waves, Weekday
from campaignkit.domain.shards import Shard
from campaignkit.domain.surface import (
    ChannelSurface,
    EmailSettings,
    PushSettings,
    SmsSettings,
    SurfaceStatus,
)
from campaignkit.domain.throughput import TriggerRequest
from campaignkit.domain.triggers import (
    Execution,
    ExecutionKind,
    ExecutionStatus,
    Recipient,
    ScheduleStatus,
)
from campaignkit.domain.unsubscribe import UnsubscribeResult, UnsubscribeToken
from campaignkit.engine import TickReport
from campaignkit.errors import (
    ApprovalPolicyActive,
    ApprovalRequired,
    CampaignKitError,
    ClockError,
    ConflictError,
    DeliveryError,
    MissingDependency,
    NotFound,
    PermissionDenied,
    StorageError,
    StorageUnavailable,
    SurfaceInUse,
    TransitionNotAllowed,
    ValidationError,
)
from campaignkit.kit import CampaignKit
from campaignkit.permissions import (
    PROFILE_PERMISSIONS,
    Decision,
    Permission,
    PermissionPolicy,
    ProductProfile,
    ProfilePolicy,
)
from campaignkit.ports import (
    AudienceSource,
    Channel,
    LookupChannel,
    ProfileStore,
    Progress,
    RunProgress,
    Store,
)
from campaignkit.session import CheckResult, ProofResult, UserSession

__version__ = "0.1.0"

__all__ = [
    "ALL_STATUSES",
    "DEFAULT_LIST_STATUSES",
    "PROFILE_PERMISSIONS",
    "TRANSITIONS",
    "Accepted",
    "AccessAuditEntry",
    "AccessChange",
    "AccessDirectory",
    "Action",
    "ActionCounts",
    "ApprovalAction",
    "ApprovalEntry",
    "ApprovalEvent",
    "ApprovalHistory",
    "ApprovalPolicy",
    "ApprovalPolicyActive",
    "ApprovalRequired",
    "AudienceRegistry",
    "AudienceSource",
    "AudienceStatus",
    "BusinessRuleRegistry",
    "BusinessRules",
    "Calendar",
    "CalendarEntry",
    "Campaign",
    "CampaignChanged",
    "CampaignKit",
    "CampaignKitError",
    "CampaignRemoved",
    "CampaignReport",
    "CampaignStatus",
    "CampaignType",
    "CampaignVersion",
    "Category",
    "Channel",
    "ChannelSurface",
    "ChannelType",
    "CheckResult",
    "Clock",
    "ClockError",
    "ConflictError",
    "ConsoleChannel",
    "Content",
    "Decision",
    "DeliveryError",
    "MissingDependency",
    "DeliverySettings",
    "DomainEvent",
    "EmailContent",
    "EmailSettings",
    "ExclusionReason",
    "Execution",
    "ExecutionKind",
    "ExecutionStatus",
    "FeedbackEvent",
    "FeedbackRecord",
    "Frequency",
    "FrequencyCap",
    "HistoryEntry",
    "InMemoryAudienceSource",
    "InMemoryProfileStore",
    "InMemoryStore",
    "LedgerEntry",
    "LedgerState",
    "LifecycleRules",
    "LookupChannel",
    "Message",
    "NotFound",
    "OutcomeRow",
    "Page",
    "PendingRow",
    "PermanentFailure",
    "Permission",
    "PermissionDenied",
    "PermissionPolicy",
    "PolicyConditions",
    "PolicyStatus",
    "Principal",
    "ProductProfile",
    "Profile",
    "ProfilePolicy",
    "ProfileStore",
    "Progress",
    "ProofResult",
    "PushContent",
    "PushSettings",
    "QuietHours",
    "Recipient",
    "Recurrence",
    "RenderLimits",
    "Review",
    "RuleBook",
    "Run",
    "RunKind",
    "RunProgress",
    "RunRecipient",
    "RunReport",
    "RunStatus",
    "SMTPChannel",
    "SQLiteProfileStore",
    "SQLiteStore",
    "Schedule",
    "ScheduleStatus",
    "Shard",
    "SendResult",
    "SettableClock",
    "SmsContent",
    "SmsSettings",
    "StorageError",
    "StorageUnavailable",
    "Store",
    "SurfaceInUse",
    "SurfaceStatus",
    "SystemClock",
    "TickReport",
    "TransientFailure",
    "TransitionNotAllowed",
    "TriggerRequest",
    "UnsubscribeResult",
    "UnsubscribeToken",
    "UserSession",
    "ValidationError",
    "Verb",
    "WaitableClock",
    "Waves",
    "WebhookChannel",
    "Weekday",
    "__version__",
]
