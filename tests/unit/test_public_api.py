"""The public API names of ARCHITECTURE.md exist and __all__ is exact."""

from __future__ import annotations

import campaignkit as ck
import campaignkit.testing as cktesting

CONTRACT_NAMES = {
    "CampaignKit",
    "UserSession",
    "Campaign",
    "CampaignVersion",
    "Action",
    "EmailContent",
    "SmsContent",
    "PushContent",
    "ChannelSurface",
    "ChannelType",
    "Schedule",
    "Recurrence",
    "Waves",
    "QuietHours",
    "FrequencyCap",
    "CampaignStatus",
    "CampaignType",
    "Category",
    "HistoryEntry",
    "ALL_STATUSES",
    "ProductProfile",
    "Permission",
    "PermissionPolicy",
    "ProfilePolicy",
    "Decision",
    "EmailSettings",
    "SmsSettings",
    "PushSettings",
    "Profile",
    "Page",
    "CalendarEntry",
    "TickReport",
    "SystemClock",
    "Clock",
    "CampaignKitError",
    "ValidationError",
    "TransitionNotAllowed",
    "PermissionDenied",
    "ApprovalRequired",
    "ConflictError",
    "NotFound",
    "DeliveryError",
    "StorageError",
    "StorageUnavailable",
    "CheckResult",
}


def test_all_lists_exactly_the_public_names() -> None:
    exported = set(ck.__all__)
    assert exported >= CONTRACT_NAMES
    public = {n for n in dir(ck) if not n.startswith("_") and n not in _MODULES}
    assert public == exported - {"__version__"}
    assert len(ck.__all__) == len(exported), "no duplicates in __all__"


_MODULES = {
    "access",
    "adapters",
    "audiences",
    "business_rules",
    "ajo",
    "serialization",
    "clock",
    "concurrency",
    "delivery",
    "domain",
    "engine",
    "errors",
    "kit",
    "kit_arguments",
    "kit_wiring",
    "permissions",
    "ports",
    "host_ports",
    "preflight",
    "session",
    "testing",
    "timeutil",
    "cli",
    "demo",
    "worker",
    "worker_config",
    "logs",
    "otel",
    "notebook",
    "progress",
    "scale",
    "celery",
    "queue",
}


def test_every_public_name_has_a_docstring() -> None:
    for name in ck.__all__:
        obj = getattr(ck, name)
        if isinstance(obj, type):
            assert obj.__doc__, f"{name} needs a docstring"


def test_testing_exports_the_doubles() -> None:
    assert set(cktesting.__all__) == {
        "ManualClock",
        "SequentialIds",
        "RecordingChannel",
        "ReconcilingRecordingChannel",
        "CallbackChannel",
        "NullChannel",
    }


def test_session_verbs_of_the_contract_exist() -> None:
    verbs = {
        "get",
        "list_campaigns",
        "calendar",
        "create_campaign",
        "update_draft",
        "delete",
        "duplicate",
        "activate",
        "modify",
        "discard_draft",
        "stop",
        "archive",
        "create_surface",
        "deactivate_surface",
    }
    missing = {v for v in verbs if not callable(getattr(ck.UserSession, v, None))}
    assert not missing


def test_kit_rules_is_the_business_rule_registry() -> None:
    kit = ck.CampaignKit.in_memory()
    assert isinstance(kit.rules, ck.BusinessRuleRegistry)
    assert callable(kit.rules.add_quiet_hours)
    assert callable(kit.rules.add_frequency_cap)
    assert isinstance(kit.lifecycle, ck.LifecycleRules)


def test_render_limits_are_public_and_reach_the_kit_through_delivery_settings() -> None:
    limits = ck.RenderLimits(max_output=1000)
    kit = ck.CampaignKit.in_memory(delivery=ck.DeliverySettings(render_limits=limits))
    assert kit.delivery.render_limits is limits
    assert ck.RenderLimits.__doc__
