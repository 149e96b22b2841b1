"""Versioned JSON documents for every stored domain value.

Every document is an envelope ``{"schema": name, "version": N, "data": ...}``.
A document written at an older version is migrated on load by upcasters,
one version step at a time, so data written by an older campaignkit keeps
loading. The cattrs converter is private to this module (never the global
one), with hooks for pendulum values and tagged unions for content and
surface settings.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import cattrs
import cattrs.v
import pendulum
from cattrs.strategies import configure_tagged_union

from campaignkit.domain.access import AccessAuditEntry
from campaignkit.domain.approval import ApprovalPolicy
from campaignkit.domain.campaign import Campaign
from campaignkit.domain.channels import Content, EmailContent, PushContent, SmsContent
from campaignkit.domain.delivery import FeedbackRecord, LedgerEntry, Run, RunRecipient
from campaignkit.domain.profile import Profile
from campaignkit.domain.rules import RuleBook
from campaignkit.domain.surface import (
    ChannelSurface,
    EmailSettings,
    PushSettings,
    SmsSettings,
    SurfaceSettings,
)
from campaignkit.domain.triggers import ExecutionRecord
from campaignkit.errors import StorageError, ValidationError

T = TypeVar("T")
Document = dict[str, Any]
"""A JSON-compatible mapping."""
Upcaster = Callable[[Document], Document]
"""Turns the ``data`` of version N of a schema into the ``data`` of version N+1."""

SCHEMAS: Final[Mapping[type, tuple[str, int]]] = {
    Campaign: ("campaign", 2),
    ChannelSurface: ("surface", 1),
    ApprovalPolicy: ("approval_policy", 1),
    AccessAuditEntry: ("access_audit", 1),
    Profile: ("profile", 2),
    Run: ("run", 2),
    LedgerEntry: ("ledger_entry", 1),
    FeedbackRecord: ("feedback", 1),
    ExecutionRecord: ("execution", 1),
    RuleBook: ("rules", 1),
}
"""Each stored type with its schema name and current version."""

_TAGS: Final[Mapping[type, str]] = {
    EmailContent: "email",
    SmsContent: "sms",
    PushContent: "push",
    EmailSettings: "email",
    SmsSettings: "sms",
    PushSettings: "push",
}


def _campaign_v1_to_v2(data: Document) -> Document:
    """v2 (approval workflow) keeps the open review and the approval trail.

    v1 had a ``draft_in_review`` flag and no approval data; no v1 campaign can
    have had a review open (v1 had no approval verbs), so the flag is dropped.
    """
    upgraded = {key: value for key, value in data.items() if key != "draft_in_review"}
    upgraded.setdefault("review", None)
    upgraded.setdefault("approvals", [])
    return upgraded


def _profile_v1_to_v2(data: Document) -> Document:
    """v2 (hardening) marks test profiles; every profile stored before is a real one."""
    return {**data, "test": data.get("test", False)}


def _run_v1_to_v2(data: Document) -> Document:
    """v2 (audience executions choose their audience) adds ``audience``: None, the version's."""
    return {**data, "audience": data.get("audience")}


UPCASTERS: Final[Mapping[tuple[str, int], Upcaster]] = {
    ("campaign", 1): _campaign_v1_to_v2,
    ("profile", 1): _profile_v1_to_v2,
    ("run", 1): _run_v1_to_v2,
}
"""``(schema, N) -> upcaster`` migrating version N to N+1."""


def _structure_datetime(value: object, _: type) -> pendulum.DateTime:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 instant, got {value!r}")
    parsed = datetime.datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        raise ValueError(f"instant {value!r} has no UTC offset")
    if parsed.utcoffset() == datetime.timedelta(0):  # what we write: the fast path
        return pendulum.DateTime(
            parsed.year,
            parsed.month,
            parsed.day,
            parsed.hour,
            parsed.minute,
            parsed.second,
            parsed.microsecond,
            tzinfo=pendulum.UTC,
        )
    return pendulum.instance(parsed).in_timezone("UTC")


def _unstructure_datetime(value: pendulum.DateTime) -> str:
    if value.tzinfo is _UTC:  # every instant campaignkit makes: written from its fields
        return _utc_text(value)
    if value.utcoffset() == _ZERO:
        return value.isoformat()
    return value.in_timezone("UTC").isoformat()


_ZERO: Final = datetime.timedelta(0)
_UTC: Final = pendulum.UTC


def _utc_text(value: datetime.datetime) -> str:
    """``value.isoformat()`` of an instant in UTC, without asking its zone for the offset.

    (pendulum's zone answers ``utcoffset`` in Python, twice per ``isoformat``.)
    """
    micro = value.microsecond
    return (
        _ISO_MICRO
        % (value.year, value.month, value.day, value.hour, value.minute, value.second, micro)
        if micro
        else _ISO % (value.year, value.month, value.day, value.hour, value.minute, value.second)
    )


_ISO: Final = "%04d-%02d-%02dT%02d:%02d:%02d+00:00"
_ISO_MICRO: Final = "%04d-%02d-%02dT%02d:%02d:%02d.%06d+00:00"


def _structure_date(value: object, _: type) -> datetime.date:
    if not isinstance(value, str):
        raise TypeError(f"expected an ISO 8601 date, got {value!r}")
    return datetime.date.fromisoformat(value)


def _structure_strings(value: object, _: type) -> tuple[str, ...]:
    # cattrs alone would read the text "vip" as the three tags ("v", "i", "p")
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TypeError(f"expected a list of strings, got {str(value)[:80]!r}")
    return tuple(value)


def _is_frozenset(cls: Any) -> bool:
    return getattr(cls, "__origin__", None) is frozenset or cls is frozenset


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True)
    converter.register_structure_hook(pendulum.DateTime, _structure_datetime)
    converter.register_unstructure_hook(pendulum.DateTime, _unstructure_datetime)
    converter.register_structure_hook(datetime.date, _structure_date)
    converter.register_structure_hook_func(lambda t: t == tuple[str, ...], _structure_strings)
    converter.register_unstructure_hook(datetime.date, lambda value: value.isoformat())
    converter.register_structure_hook(
        pendulum.Duration, lambda value, _: pendulum.duration(seconds=float(value))
    )
    converter.register_unstructure_hook(pendulum.Duration, lambda value: value.total_seconds())
    converter.register_unstructure_hook_func(
        _is_frozenset,
        lambda value: sorted(converter.unstructure(item) for item in value),
    )
    for union in (Content, SurfaceSettings):
        configure_tagged_union(union, converter, tag_generator=_TAGS.__getitem__, tag_name="kind")
    return converter


_converter: Final = _make_converter()


def schema_of(cls: type) -> tuple[str, int]:
    """The schema name and current version of a stored type."""
    try:
        return SCHEMAS[cls]
    except KeyError:
        raise TypeError(f"{cls.__name__} is not a stored campaignkit type") from None


def to_document(value: object) -> Document:
    """Wrap ``value`` in its versioned envelope."""
    name, version = schema_of(type(value))
    return {"schema": name, "version": version, "data": _converter.unstructure(value)}


def from_document(cls: type[T], document: object) -> T:
    """Load a ``cls`` from an envelope of any known version of its schema.

    Raises:
        StorageError: a document of another schema, of a newer version than
            this campaignkit knows, without an upcaster, or that does not fit.
    """
    name, current = schema_of(cls)
    if not isinstance(document, dict) or set(document) != {"schema", "version", "data"}:
        raise StorageError(f"not a campaignkit document envelope: {str(document)[:80]!r}")
    if document["schema"] != name:
        raise StorageError(f"expected a {name!r} document, found {document['schema']!r}")
    version, data = document["version"], document["data"]
    if not isinstance(version, int) or version < 1:
        raise StorageError(f"{name} document has an invalid version {version!r}")
    if version > current:
        raise StorageError(
            f"{name} document version {version} was written by a newer campaignkit "
            f"(this one reads up to {current}); upgrade campaignkit"
        )
    try:
        while version < current:
            upcaster = UPCASTERS.get((name, version))
            if upcaster is None:
                raise StorageError(f"no upcaster from {name} version {version} to {version + 1}")
            if not isinstance(data, dict):
                raise TypeError(f"data must be an object, not {type(data).__name__}")
            data = upcaster(data)
            version += 1
        return _converter.structure(data, cls)
    except StorageError:
        raise
    except Exception as exc:  # cattrs and upcasters raise several exception types
        details = (
            "; ".join(cattrs.transform_error(exc, format_exception=_explain))
            if isinstance(exc, cattrs.BaseValidationError)
            else str(exc)
        )
        raise StorageError(
            f"{name} document (version {document['version']}) is invalid: {details}"
        ) from exc


def _explain(exc: BaseException, type_: type | None) -> str:
    """A structuring error as text; a domain ``ValidationError`` keeps its problems."""
    if isinstance(exc, ValidationError):
        return "; ".join(exc.problems)
    return cattrs.v.format_exception(exc, type_)


def compact_json(value: object) -> str:
    """``json.dumps(value, separators=(",", ":"))``: the same text, the same errors.

    ``json.dumps`` builds a ``JSONEncoder`` and goes through three Python calls
    before its C encoder starts; this makes the C encoder at once (about a
    third fewer instructions for a document). Circular references are still
    detected (a fresh marker dict per call); without the C encoder, ``json.dumps``.
    """
    if _make_encoder is None:  # pragma: no cover - CPython always has it
        return json.dumps(value, separators=(",", ":"))
    return "".join(
        _make_encoder({}, _not_json, _encode_text, None, ":", ",", False, False, True)(value, 0)
    )


_make_encoder: Final[Any] = getattr(json.encoder, "c_make_encoder", None)
_encode_text: Final = json.encoder.encode_basestring_ascii
_not_json: Final = json.JSONEncoder().default


def dumps(value: object) -> str:
    """Serialize ``value`` to compact JSON (an envelope)."""
    if type(value) is Profile and _recent_profiles:
        held = _recent_profiles.pop(id(value), None)
        if held is not None and held[0] is value:  # written a moment ago in a run document
            return _PROFILE % (SCHEMAS[Profile][1], held[1])
    return compact_json(to_document(value))


_PROFILE: Final = '{"schema":"profile","version":%d,"data":%s}'


def profile_head() -> str:
    """How :func:`dumps` begins a current profile document (its ``data`` follows).

    Readers that skip the envelope (the SQLite profile scan) compare with this,
    so the two cannot drift apart.
    """
    return _PROFILE.split("%s", 1)[0] % SCHEMAS[Profile][1]


_recent_profiles: Final[dict[int, tuple[Profile, str]]] = {}
"""The profiles of the last run :func:`dumps_run` wrote, with their text: a trigger
stores the profile it creates right after its run, so it is encoded once. Each is
used once; the next run replaces them all."""


def dumps_execution(record: ExecutionRecord) -> str:
    """``dumps(record)``, the same text, written field by field (one per trigger).

    Like :func:`dumps_run`: a record of the exact type whose fields are of the
    exact types is written with one format string; anything else goes to
    :func:`dumps`. ``tests/unit/test_serialization_fast.py`` checks it against
    :func:`dumps` field by field, so a new field of ``ExecutionRecord`` fails
    there first.
    """
    if type(record) is not ExecutionRecord:
        return dumps(record)
    try:
        return _EXECUTION % (
            SCHEMAS[ExecutionRecord][1],
            _text(record.id),
            _text(record.campaign_id),
            _text(record.request_id),
            _text(record.kind.value),
            _instant(record.created_at),
            _text(record.created_by),
            _text(record.run_id),
            _text(record.payload_hash),
            _instant(record.execute_at),
            _instant(record.cancelled_at),
            _whole(record.revision),
            _span(record.span),
        )
    except (TypeError, KeyError, AttributeError):  # another type: the generic path decides
        return dumps(record)


_EXECUTION: Final = (
    '{"schema":"execution","version":%d,"data":{"id":%s,"campaign_id":%s,"request_id":%s,'
    '"kind":%s,"created_at":%s,"created_by":%s,"run_id":%s,"payload_hash":%s,'
    '"execute_at":%s,"cancelled_at":%s,"revision":%s,"span":%s}}'
)


def dumps_run(run: Run) -> str:
    """``dumps(run)``, the same text, written field by field (a new run: one per trigger).

    Only a run with no counts, waves or rates (what ``add`` is given) of the
    exact types is written here; any other, or a value of another type, goes
    to :func:`dumps`. ``tests/unit/test_accept_fast_paths.py`` checks the text
    against ``dumps`` and that every field of ``Run`` is named, in order.
    """
    _recent_profiles.clear()
    if run.counts or run.wave_filled or run.rate_sent or run.rate_origin or type(run) is not Run:
        return dumps(run)
    try:
        return _RUN % (
            SCHEMAS[Run][1],
            _text(run.id),
            _text(run.campaign_id),
            _whole(run.version),
            _text(run.kind.value),
            _text(run.status.value),
            _instant(run.created_at),
            _instant(run.due_at),
            _instant(run.started_at),
            _instant(run.finished_at),
            _whole(run.position),
            _FLAGS[run.streamed],
            _text(run.lease_owner),
            _instant(run.lease_expires_at),
            _text(run.error),
            compact_json(dict(run.context)),
            ",".join(map(_run_recipient, run.recipients)),
            _instant(run.nominal_at),
            _text(run.audience),
            _whole(run.revision),
        )
    except (TypeError, KeyError):  # a value of another type: the generic path decides
        return dumps(run)


_RUN: Final = (
    '{"schema":"run","version":%d,"data":{"id":%s,"campaign_id":%s,"version":%s,'
    '"kind":%s,"status":%s,"created_at":%s,"due_at":%s,"started_at":%s,"finished_at":%s,'
    '"position":%s,"streamed":%s,"counts":{},"lease_owner":%s,"lease_expires_at":%s,'
    '"error":%s,"context":%s,"recipients":[%s],"nominal_at":%s,"wave_filled":[],'
    '"rate_sent":{},"rate_origin":{},"audience":%s,"revision":%s}}'
)
_FLAGS: Final = {False: "false", True: "true"}


def _text(value: str | None) -> str:
    """``value`` as JSON text or null; TypeError (so :func:`dumps_run` falls back) otherwise."""
    if value is None:
        return "null"
    if type(value) is not str:
        raise TypeError(type(value).__name__)
    return _encode_text(value)


def _whole(value: int) -> str:
    """An exact ``int`` as JSON; TypeError for anything else (a bool included)."""
    if type(value) is not int:
        raise TypeError(type(value).__name__)
    return str(value)


def _span(value: tuple[int, int] | None) -> str:
    """A pair of exact ``int`` as JSON, or null; TypeError for anything else."""
    if value is None:
        return "null"
    if type(value) is not tuple or len(value) != 2:
        raise TypeError(type(value).__name__)
    return f"[{_whole(value[0])},{_whole(value[1])}]"


def _instant(value: pendulum.DateTime | None) -> str:
    """A pendulum instant as the converter writes it, or null; TypeError otherwise."""
    if value is None:
        return "null"
    last = _last_instant[0]
    if value is last[0]:  # an accept writes its clock reading three times
        return last[1]
    if type(value) is not pendulum.DateTime:
        raise TypeError(type(value).__name__)
    text = f'"{_unstructure_datetime(value)}"'
    _last_instant[0] = (value, text)  # one tuple: a thread reads a pair that belongs together
    return text


_last_instant: list[tuple[object, str]] = [(None, "")]
"""The last instant :func:`_instant` wrote and its text (the same object is the same text:
instants are immutable; the object is held, so its id is not reused meanwhile)."""


def _run_recipient(recipient: RunRecipient) -> str:
    """A run's recipient as JSON, its profile's text remembered for :func:`dumps`."""
    if type(recipient) is not RunRecipient or type(recipient.profile) is not Profile:
        raise TypeError(type(recipient).__name__)
    profile = compact_json(_converter.unstructure(recipient.profile, Profile))
    _recent_profiles[id(recipient.profile)] = (recipient.profile, profile)
    return f'{{"profile":{profile},"context":{compact_json(dict(recipient.context))}}}'


def loads(cls: type[T], text: str | bytes) -> T:
    """Deserialize JSON made by :func:`dumps` (of any known version).

    Raises:
        StorageError: the text is not JSON, or not a valid ``cls`` document.
    """
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise StorageError(f"stored document is not valid JSON: {exc}") from exc
    return from_document(cls, document)
