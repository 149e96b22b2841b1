"""The verbs under test: every ``UserSession`` verb and every kit-level verb, each with valid
arguments to spoil one at a time."""

from __future__ import annotations

import pendulum

import campaignkit as ck
from campaignkit import ajo
from tests.unit.boundary_properties.support import (
    EMAIL,
    T0,
    Verb,
    _access,
    _const,
    _id,
    _named,
    _rcpt,
    _session,
)

SESSION_VERBS: tuple[Verb, ...] = (
    Verb("get", lambda s, a: _session(s).get(a["campaign_id"]), {"campaign_id": _id("draft")}),
    Verb(
        "list_campaigns",
        lambda s, a: _session(s).list_campaigns(**a),
        {
            "statuses": _const(ck.ALL_STATUSES),
            "types": _const(None),
            "channels": _const(None),
            "tag": _const("winter"),
            "created_from": _const(None),
            "created_to": _const(None),
            "search": _const("sale"),
            "limit": _const(10),
            "cursor": _const(None),
        },
    ),
    Verb(
        "calendar",
        lambda s, a: _session(s).calendar(a["start"], a["end"]),
        {"start": _const(T0), "end": _const(T0.add(days=30))},
    ),
    Verb(
        "create_campaign",
        lambda s, a: _session(s).create_campaign(**a),
        {
            "name": _const("Spring"),
            "type": _const(ck.CampaignType.SCHEDULED),
            "category": _const(ck.Category.MARKETING),
            "audience": _const("vip"),
            "namespace": _const("email"),
            "actions": lambda ids: [
                ck.Action(ids["surface"], ck.EmailContent(subject="S", html="<p>x</p>"))
            ],
            "schedule": _const(ck.Schedule()),
            "quiet_hours": _const(()),
            "tags": _const(("spring",)),
            "description": _const("d"),
            "create_profiles": _const(False),
        },
    ),
    Verb(
        "update_draft",
        lambda s, a: _session(s).update_draft(a.pop("campaign_id"), **a),
        {
            "campaign_id": _id("draft"),
            "name": _const("Winter sale"),
            "description": _const(""),
            "tags": _const(("winter",)),
            "audience": _const("vip"),
            "namespace": _const("email"),
            "schedule": _const(ck.Schedule(start=T0.add(days=2))),
            "quiet_hours": _const(()),
        },
    ),
    Verb(
        "duplicate",
        lambda s, a: _session(s).duplicate(a["campaign_id"], a["name"]),
        {"campaign_id": _id("draft"), "name": _const(None)},
    ),
    *(
        Verb(
            name,
            _named(_session, name, "campaign_id"),
            {"campaign_id": _id("draft")},
        )
        for name in (
            "delete",
            "activate",
            "modify",
            "discard_draft",
            "stop",
            "archive",
            "cancel_approval",
            "approval_history",
            "report",
            *(["check"] if hasattr(ck.UserSession, "check") else []),
        )
    ),
    Verb(
        "request_approval",
        lambda s, a: _session(s).request_approval(a["campaign_id"], a["message"]),
        {"campaign_id": _id("draft"), "message": _const("please")},
    ),
    Verb(
        "approve",
        lambda s, a: _session(s).approve(a["campaign_id"], a["comment"]),
        {"campaign_id": _id("draft"), "comment": _const(None)},
    ),
    Verb(
        "request_changes",
        lambda s, a: _session(s).request_changes(a["campaign_id"], a["message"]),
        {"campaign_id": _id("draft"), "message": _const("fix it")},
    ),
    Verb(
        "send_proof",
        lambda s, a: _session(s).send_proof(a["campaign_id"], a["profile_ids"]),
        {"campaign_id": _id("draft"), "profile_ids": _const(["p1"])},
    ),
    Verb(
        "trigger",
        lambda s, a: _session(s).trigger(
            a["campaign_id"], a["recipients"], request_id=a["request_id"]
        ),
        {"campaign_id": _id("receipt"), "recipients": _rcpt, "request_id": _const("r-2")},
    ),
    Verb(
        "execute_audience",
        lambda s, a: _session(s).execute_audience(a.pop("campaign_id"), **a),
        {
            "campaign_id": _id("mailing"),
            "request_id": _const("a-2"),
            "context": _const({"offer": "WINTER"}),
            "execute_at": _const(T0.add(days=1)),
        },
    ),
    Verb(
        "cancel_execution",
        lambda s, a: _session(s).cancel_execution(a["execution_id"]),
        {"execution_id": _id("scheduled_execution")},
    ),
    Verb(
        "execution",
        lambda s, a: _session(s).execution(a["execution_id"]),
        {"execution_id": _id("execution")},
    ),
    Verb(
        "create_surface",
        lambda s, a: _session(s).create_surface(**a),
        {
            "name": _const("Alerts"),
            "channel": _const(ck.ChannelType.SMS),
            "settings": _const(ck.SmsSettings(sender_id="SHOP")),
            "category": _const(ck.Category.MARKETING),
        },
    ),
    Verb(
        "get_surface",
        lambda s, a: _session(s).get_surface(a["surface_id"]),
        {"surface_id": _id("surface")},
    ),
    Verb(
        "deactivate_surface",
        lambda s, a: _session(s).deactivate_surface(a["surface_id"]),
        {"surface_id": _id("surface")},
    ),
    Verb(
        "create_approval_policy",
        lambda s, a: _session(s).create_approval_policy(**a),
        {
            "name": _const("Brand"),
            "reviewers": _const(["april"]),
            "reviewer_groups": _const(()),
            "block_self_approval": _const(False),
            "types": _const(None),
            "channels": _const(None),
            "tags": _const(None),
            "name_contains": _const(None),
            "name_equals": _const(None),
            "requesters": _const(None),
            "requester_groups": _const(None),
            "match": _const("all"),
        },
    ),
    Verb(
        "update_approval_policy",
        lambda s, a: _session(s).update_approval_policy(a.pop("policy_id"), **a),
        {
            "policy_id": _id("policy"),
            "name": _const("Legal"),
            "reviewers": _const(()),
            "block_self_approval": _const(False),
            "tags": _const(None),
            "match": _const("all"),
        },
    ),
    *(
        Verb(
            name,
            _named(_session, name, "policy_id"),
            {"policy_id": _id("policy")},
        )
        for name in (
            "get_approval_policy",
            "activate_approval_policy",
            "deactivate_approval_policy",
        )
    ),
    Verb(
        "duplicate_approval_policy",
        lambda s, a: _session(s).duplicate_approval_policy(a["policy_id"], a["name"]),
        {"policy_id": _id("policy"), "name": _const("Legal 2")},
    ),
    *(
        Verb(
            name,
            _named(_session, name, "user", "profile"),
            {
                "user": _const("max"),
                "profile": _const(ck.ProductProfile.MANAGER),
            },
        )
        for name in ("assign_profile", "revoke_profile")
    ),
    *(
        Verb(
            name,
            _named(_session, name, "group", "profile"),
            {
                "group": _const("marketing"),
                "profile": _const(ck.ProductProfile.VIEWER),
            },
        )
        for name in ("assign_group_profile", "revoke_group_profile")
    ),
    *(
        Verb(
            name,
            _named(_session, name, "group", "user"),
            {
                "group": _const("marketing"),
                "user": _const("bob"),
            },
        )
        for name in ("add_group_member", "remove_group_member")
    ),
    Verb(
        "export",
        lambda s, a: _session(s).export(a["campaign_ids"]),
        {"campaign_ids": lambda ids: [ids["draft"]]},
    ),
    Verb("import_", lambda s, a: _session(s).import_(a["package"]), {"package": _const({})}),
)
"""The UserSession verbs (ARCHITECTURE.md), each with valid arguments on the seeded kits."""

KIT_VERBS: tuple[Verb, ...] = (
    Verb("as_user", lambda s, a: s.kit.as_user(a["user_id"]), {"user_id": _const("ada")}),
    Verb(
        "profiles.upsert",
        lambda s, a: s.kit.profiles.upsert(a["profile"]),
        {"profile": _const(ck.Profile(id="p3", attributes={"n": 1}))},
    ),
    Verb(
        "profiles.get",
        lambda s, a: s.kit.profiles.get(a["profile_id"]),
        {"profile_id": _const("p1")},
    ),
    Verb(
        "profiles.get_many",
        lambda s, a: s.kit.profiles.get_many(a["profile_ids"]),
        {"profile_ids": _const(["p1", "p2"])},
    ),
    Verb(
        "profiles.find_by_identity",
        lambda s, a: s.kit.profiles.find_by_identity(a["namespace"], a["value"]),
        {"namespace": _const("email"), "value": _const("p1@example.com")},
    ),
    Verb(
        "audiences.define",
        lambda s, a: s.kit.audiences.define(a["name"], a["profile_ids"]),
        {"name": _const("vip"), "profile_ids": _const(["p1", "p2"])},
    ),
    Verb(
        "audiences.status", lambda s, a: s.kit.audiences.status(a["name"]), {"name": _const("vip")}
    ),
    Verb("audiences.count", lambda s, a: s.kit.audiences.count(a["name"]), {"name": _const("vip")}),
    Verb(
        "audiences.members",
        lambda s, a: list(
            s.kit.audiences.members(a["name"], namespace=a["namespace"], batch_size=a["batch_size"])
        ),
        {"name": _const("vip"), "namespace": _const("email"), "batch_size": _const(10)},
    ),
    Verb(
        "profiles.scan",
        lambda s, a: list(s.kit.profiles.scan(a["batch_size"])),  # type: ignore[attr-defined]
        {"batch_size": _const(10)},
    ),
    Verb("run_until", lambda s, a: s.kit.run_until(a["when"]), {"when": _const(T0)}),
    Verb(
        "audiences.define(where=)",
        lambda s, a: s.kit.audiences.define(a["name"], where=a["where"]),
        {"name": _const("everyone"), "where": _const(lambda p: True)},
    ),
    Verb(
        "rules.add_quiet_hours",
        lambda s, a: s.kit.rules.add_quiet_hours(a["channel"], a["rule"]),
        {"channel": _const(EMAIL), "rule": _const(ck.QuietHours(start="21:00", end="08:00"))},
    ),
    Verb(
        "rules.remove_quiet_hours",
        lambda s, a: s.kit.rules.remove_quiet_hours(a["channel"], a["rule"]),
        {"channel": _const(EMAIL), "rule": _const(ck.QuietHours(start="21:00", end="08:00"))},
    ),
    Verb(
        "rules.add_frequency_cap",
        lambda s, a: s.kit.rules.add_frequency_cap(a["channel"], a["cap"]),
        {
            "channel": _const("sms"),
            "cap": _const(ck.FrequencyCap(max=2, per=pendulum.duration(days=7))),
        },
    ),
    Verb(
        "rules.remove_frequency_cap",
        lambda s, a: s.kit.rules.remove_frequency_cap(a["channel"], a["cap"]),
        {
            "channel": _const("sms"),
            "cap": _const(ck.FrequencyCap(max=2, per=pendulum.duration(days=7))),
        },
    ),
    Verb(
        "rules.for_channel",
        lambda s, a: s.kit.rules.for_channel(a["channel"]),
        {"channel": _const("sms")},
    ),
    Verb("rules.clear", lambda s, a: s.kit.rules.clear(a["channel"]), {"channel": _const("push")}),
    Verb(
        "record_feedback",
        lambda s, a: s.kit.record_feedback(a["provider_message_id"], a["event"]),
        {
            "provider_message_id": _const("unknown-message"),
            "event": _const(ck.FeedbackEvent.UNSUBSCRIBED),
        },
    ),
    *(
        Verb(
            f"access.{name}",
            _named(_access, name, "user", "profile"),
            {
                "user": _const("max"),
                "profile": _const(ck.ProductProfile.VIEWER),
            },
        )
        for name in ("assign", "revoke")
    ),
    *(
        Verb(
            f"access.{name}",
            _named(_access, name, "group", "profile"),
            {
                "group": _const("marketing"),
                "profile": _const(ck.ProductProfile.VIEWER),
            },
        )
        for name in ("assign_group", "revoke_group")
    ),
    *(
        Verb(
            f"access.{name}",
            _named(_access, name, "group", "user"),
            {
                "group": _const("marketing"),
                "user": _const("bob"),
            },
        )
        for name in ("add_member", "remove_member")
    ),
    *(
        Verb(
            f"access.{name}",
            _named(_access, name, "user"),
            {"user": _const("ada")},
        )
        for name in ("profiles_of", "profile_sources", "groups_of")
    ),
    Verb(
        "access.members_of",
        lambda s, a: s.kit.access.members_of(a["group"]),
        {"group": _const("marketing")},
    ),
    Verb("subscribe", lambda s, a: s.kit.subscribe(a["listener"])(), {"listener": _const(print)}),
    Verb(
        "ajo.execute_unitary",
        lambda s, a: ajo.execute_unitary(_session(s), a["body"]),
        {
            "body": lambda ids: {
                "requestId": "ajo-1",
                "campaignId": ids["receipt"],
                "recipients": [{"type": "aep", "userId": "p1@example.com", "namespace": "email"}],
            }
        },
    ),
    Verb(
        "ajo.execute_audience",
        lambda s, a: ajo.execute_audience(_session(s), a["body"]),
        {"body": lambda ids: {"campaignId": ids["mailing"], "requestId": "ajo-2"}},
    ),
    Verb(
        "ajo.execution_status",
        lambda s, a: ajo.execution_status(_session(s), a["execution_id"]),
        {"execution_id": _id("execution")},
    ),
    Verb(
        "ajo.cancel_schedule",
        lambda s, a: ajo.cancel_schedule(_session(s), a["schedule_id"]),
        {"schedule_id": _id("scheduled_execution")},
    ),
)
"""Kit-level verbs (profiles, audiences, rules, feedback, access) and the AJO bodies."""
