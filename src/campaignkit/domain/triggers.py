"""API-triggered executions: recipients, context rules and executions (SPEC section 9).

Pure values and checks; the session verbs in ``campaignkit.session.triggers``
create executions and their runs.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

import attrs
import pendulum

from campaignkit.domain import checks
from campaignkit.domain.campaign import Campaign
from campaignkit.domain.campaign_enums import CampaignStatus, CampaignType
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.profile import address_map_problems, channel_mapping
from campaignkit.domain.text_enum import TextEnum
from campaignkit.errors import ValidationError

MAX_RECIPIENTS: Final = 20
"""Recipients per unitary call [AJO]."""
MAX_CONTEXT_BYTES: Final = 200 * 1024
"""Serialized size limit of the contextual data of one request [AJO: 200 KB]: an
audience execution's context, or a unitary trigger's contexts and profile
overlays of all its recipients together."""
RESERVED_CONTEXT_KEY: Final = "system"


def _frozen(value: Mapping[Any, Any] | None) -> Mapping[Any, Any]:
    return MappingProxyType(dict(value or {}))


@attrs.frozen(eq=True, hash=False, slots=False)
class Recipient:
    """One recipient of a unitary API trigger.

    Attributes:
        user_id: The recipient's identity value in ``namespace`` (for example
            an email address), or a profile id.
        namespace: The identity namespace of ``user_id``.
        channel_data: Addresses for this message, per channel (overrides the profile's).
        profile: Attributes overlaying the stored profile for this message only
            (saved only when the call creates the profile).
        context: Data for ``context.*`` in templates; never stored on the profile.
        external: Someone with no profile (AJO ``external``): addressed by
            ``channel_data`` only, and nothing is stored about them.
    """

    user_id: str
    namespace: str
    channel_data: Mapping[ChannelType, str] | None = attrs.field(
        default=None, converter=attrs.converters.optional(channel_mapping)
    )
    profile: Mapping[str, Any] | None = attrs.field(default=None)
    context: Mapping[str, Any] | None = attrs.field(default=None)
    external: bool = False

    def __attrs_post_init__(self) -> None:
        """Refuse what no request could send, naming the argument.

        Blank ids, the reserved context key and the size of the request are
        checked by ``trigger``, which lists every recipient's problems at once.

        Raises:
            ValidationError: a wrong type, a string that is not UTF-8 or longer
                than its limit, an unknown channel, or ``profile``/``context``
                that is not a JSON object nested at most 32 levels deep.
        """
        problems: list[str] = []
        checks.text(problems, "user_id", self.user_id, max_length=checks.MAX_ID, allow_empty=True)
        checks.text(problems, "namespace", self.namespace, allow_empty=True)
        if self.channel_data is not None:
            problems.extend(address_map_problems("channel_data", self.channel_data))
        for name, value in (("profile", self.profile), ("context", self.context)):
            problems.extend(json_object_problems(value, name, max_bytes=None))
        checks.boolean(problems, "external", self.external)
        checks.raise_if(problems, "recipient")


class ExecutionKind(TextEnum):
    """How an execution was requested."""

    UNITARY = "unitary"
    AUDIENCE = "audience"

    def __str__(self) -> str:
        return self.value


class ScheduleStatus(TextEnum):
    """Whether an execution has fired."""

    SCHEDULED = "Scheduled"
    TRIGGERED = "Triggered"
    CANCELLED = "Cancelled"

    def __str__(self) -> str:
        return self.value


class ExecutionStatus(TextEnum):
    """How the delivery of an execution is going."""

    IN_PROGRESS = "InProgress"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"
    """A scheduled audience execution cancelled before it fired."""

    def __str__(self) -> str:
        return self.value


@attrs.frozen(slots=False)
class ExecutionRecord:
    """One accepted API call, as stored: a unitary trigger or an audience execution.

    Attributes:
        id: Identifier.
        campaign_id: The API-triggered campaign.
        request_id: The caller's idempotency key (unique per campaign).
        kind: UNITARY or AUDIENCE.
        created_at: When it was accepted.
        created_by: Who called.
        run_id: The run that delivers it.
        payload_hash: Fingerprint of the request, to detect a reused request id.
        execute_at: When an audience execution fires (None: at once).
        cancelled_at: When a scheduled execution was cancelled.
        revision: Store revision for optimistic concurrency.
        span: Where its recipients are in its run's, ``(start, stop)``, when the
            run delivers several executions (``trigger_many``); None when the
            run is its own.
    """

    id: str
    campaign_id: str
    request_id: str
    kind: ExecutionKind
    created_at: pendulum.DateTime
    created_by: str
    run_id: str
    payload_hash: str
    execute_at: pendulum.DateTime | None = None
    cancelled_at: pendulum.DateTime | None = None
    revision: int = 0
    span: tuple[int, int] | None = None


@attrs.frozen(slots=False)
class Execution:
    """An accepted API call and how it is going (what the trigger verbs return).

    Attributes:
        id: Identifier.
        campaign_id: The campaign.
        request_id: The caller's idempotency key.
        kind: UNITARY or AUDIENCE.
        created_at: When it was accepted.
        created_by: Who called.
        execute_at: When an audience execution fires (None: at once).
        schedule_status: Scheduled, Triggered or Cancelled.
        status: InProgress, Succeeded or Failed.
        targeted: Profiles targeted so far (summed over actions, distinct
            recipients for a single action).
        run_id: The run delivering it.
        audience: The audience an audience execution sends to, as its run records
            it (None for a unitary one, and for one accepted before runs
            recorded it: its campaign version's).
    """

    id: str
    campaign_id: str
    request_id: str
    kind: ExecutionKind
    created_at: pendulum.DateTime
    created_by: str
    execute_at: pendulum.DateTime | None
    schedule_status: ScheduleStatus
    status: ExecutionStatus
    targeted: int
    run_id: str
    audience: str | None = None


def _json_default(value: object) -> object:
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, pendulum.DateTime):
        return value.isoformat()
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"{type(value).__name__} is not JSON data")


def _fingerprint_default(value: object) -> object:
    try:
        return _json_default(value)
    except TypeError:  # validation reports it; the hash only needs to be stable
        return repr(value)


def _compact(value: object, default: Any, *, sort_keys: bool = False, ascii: bool = True) -> str:
    """``json.dumps(value, separators=(",", ":"), ...)`` of a JSON object, the same text.

    Makes the C encoder at once instead of a ``JSONEncoder`` and its three
    Python calls (a fresh marker dict each time: circular references are
    still refused); without the C encoder, ``json.dumps``.
    """
    if _make_encoder is None:  # pragma: no cover - CPython always has it
        return json.dumps(
            value, sort_keys=sort_keys, separators=(",", ":"), default=default, ensure_ascii=ascii
        )
    encode = _ascii_text if ascii else _utf8_text
    return "".join(
        _make_encoder({}, default, encode, None, ":", ",", sort_keys, False, True)(value, 0)
    )


_make_encoder: Final[Any] = getattr(json.encoder, "c_make_encoder", None)
_ascii_text: Final = json.encoder.encode_basestring_ascii
_utf8_text: Final = (
    getattr(json.encoder, "c_encode_basestring", None) or json.encoder.encode_basestring
)


def fingerprint(payload: object) -> str:
    """A stable hash of a request payload (keys sorted; non-JSON values by ``repr``)."""
    text = _compact(payload, _fingerprint_default, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def json_object_problems(
    value: object, where: str, *, max_bytes: int | None = MAX_CONTEXT_BYTES
) -> list[str]:
    """What is wrong with an optional JSON object (a context or a profile overlay).

    Checked without recursion: string keys, JSON values, UTF-8 text, at most
    32 levels deep and, unless ``max_bytes`` is None, its serialized size.
    """
    if value is None:
        return []
    if max_bytes is None and type(value) is dict and _flat(value):
        return []  # what the walk below finds of a flat object: nothing
    if not isinstance(value, Mapping):
        return [f"{where} must be a JSON object, not {checks.describe(value)}"]
    problems: list[str] = []
    if checks.json_value(problems, where, value, max_bytes=None) and max_bytes is not None:
        size = serialized_size(value)
        if size > max_bytes:
            problems.append(
                f"{where} is {size} bytes serialized; at most {max_bytes} bytes are allowed"
            )
    return problems


def _flat(value: dict[Any, Any]) -> bool:
    """True if ``value`` holds only text keys and text, ``None``, bool or 64-bit int values.

    Such an object has nothing ``checks.json_value`` could refuse but text that
    is not UTF-8, which one encoding of all its text finds; anything else
    (nesting, floats, other types) is left to the walk.
    """
    for key, item in value.items():
        if type(key) is not str:
            return False
        kind = type(item)
        if kind is str or item is None or kind is bool:
            continue
        if kind is not int or not checks.MIN_JSON_INT <= item <= checks.MAX_JSON_INT:
            return False
    try:
        "".join([*value, *[item for item in value.values() if type(item) is str]]).encode()
    except UnicodeEncodeError:
        return False
    return True


def _size_bound(value: object) -> int | None:
    """At least the serialized size of a flat object (six bytes a character at most), else None."""
    if value is None:
        return 0
    if type(value) is not dict or not _flat(value):
        return None
    return sum(6 * len(str(key)) + 6 * len(str(item)) + 32 for key, item in value.items()) + 2


def serialized_size(value: Mapping[str, Any] | None) -> int:
    """The size in bytes of a checked JSON object, serialized compactly (0 for None)."""
    if not value:
        return 0
    return len(_compact(value, _json_default, ascii=False).encode())


def context_problems(context: object, where: str) -> list[str]:
    """What is wrong with a context: not an object, not JSON, reserved key, too large."""
    problems = json_object_problems(context, where)
    if isinstance(context, Mapping) and RESERVED_CONTEXT_KEY in context:
        problems.insert(0, f"{where} uses the reserved top-level key {RESERVED_CONTEXT_KEY!r}")
    return problems


def recipient_problems(recipients: Sequence[Recipient]) -> list[str]:
    """Every problem with the recipients of a unitary call (count, duplicates, context)."""
    problems = []
    count = len(recipients)
    if not 1 <= count <= MAX_RECIPIENTS:
        problems.append(f"a unitary trigger takes 1 to {MAX_RECIPIENTS} recipients, not {count}")
    bound = 0
    for recipient in recipients:
        for value in (recipient.context, recipient.profile):
            size = _size_bound(value)
            if size is None:  # not flat: walked and serialized
                return _walked_problems(recipients, problems)
            bound += size
    if bound > MAX_CONTEXT_BYTES:  # it may pass the limit: the exact sizes decide
        return _walked_problems(recipients, problems)
    # flat objects far under the limit: only the ids and the reserved key can be wrong
    seen: set[str] = set()
    for number, recipient in enumerate(recipients):
        user_id = recipient.user_id
        if not user_id.strip():
            problems.append(f"recipients[{number}].userId must not be empty")
        if not recipient.namespace.strip():
            problems.append(f"recipients[{number}].namespace must not be empty")
        if user_id in seen:
            problems.append(f"recipients[{number}].userId {user_id!r} appears more than once")
        seen.add(user_id)
        if recipient.context is not None and RESERVED_CONTEXT_KEY in recipient.context:
            problems.append(
                f"recipients[{number}].context uses the reserved top-level key 'system'"
            )
    return problems


def namespace_problems(
    campaign_id: str, namespace: str | None, recipients: Sequence[Recipient]
) -> list[str]:
    """Recipients outside the campaign's one identity namespace [AJO], each named.

    None when the campaign names no namespace; a blank namespace is reported
    by :func:`recipient_problems`.
    """
    if namespace is None:
        return []
    return [
        f"recipients[{number}].namespace {recipient.namespace!r} is not the identity namespace "
        f"of campaign {campaign_id!r} ({namespace!r}); a campaign addresses one namespace: "
        f"send this recipient's {namespace} identity"
        for number, recipient in enumerate(recipients)
        if recipient.namespace != namespace and recipient.namespace.strip()
    ]


def _walked_problems(recipients: Sequence[Recipient], problems: list[str]) -> list[str]:
    """``recipient_problems`` after the count, each value walked and serialized."""
    seen: set[str] = set()
    total = 0
    each_fits = True
    for number, recipient in enumerate(recipients):
        where = f"recipients[{number}]"
        if not recipient.user_id.strip():
            problems.append(f"{where}.userId must not be empty")
        if not recipient.namespace.strip():
            problems.append(f"{where}.namespace must not be empty")
        if recipient.user_id in seen:
            problems.append(f"{where}.userId {recipient.user_id!r} appears more than once")
        seen.add(recipient.user_id)
        for name, value in (("context", recipient.context), ("profile", recipient.profile)):
            if name == "context" and isinstance(value, Mapping) and RESERVED_CONTEXT_KEY in value:
                problems.append(f"{where}.context uses the reserved top-level key 'system'")
            shape = json_object_problems(value, f"{where}.{name}", max_bytes=None)
            problems.extend(shape)
            size = 0 if shape else serialized_size(value)
            if size > MAX_CONTEXT_BYTES:
                each_fits = False
                problems.append(
                    f"{where}.{name} is {size} bytes serialized; "
                    f"at most {MAX_CONTEXT_BYTES} bytes are allowed"
                )
            total += size
    if each_fits and total > MAX_CONTEXT_BYTES:
        problems.append(
            f"the recipients' context and profile data are {total} bytes serialized in all; "
            f"at most {MAX_CONTEXT_BYTES} bytes are allowed per request: send less data, "
            "or split the recipients over several requests"
        )
    return problems


def recipients_argument(recipients: object) -> list[Recipient]:
    """Check that ``recipients`` is a list of ``Recipient`` values and return it as a list.

    Raises:
        ValidationError: not a list or tuple, or an item that is not a ``Recipient``.
    """
    problems: list[str] = []
    if isinstance(recipients, (str, bytes, Mapping, Recipient)) or not isinstance(
        recipients, (list, tuple)
    ):
        problems.append(
            f"recipients must be a list of ck.Recipient values, not {checks.describe(recipients)}"
        )
        checks.raise_if(problems, "trigger")
    assert isinstance(recipients, (list, tuple))
    for number, item in enumerate(recipients):
        checks.instance(problems, f"recipients[{number}]", item, Recipient)
    checks.raise_if(problems, "trigger")
    return list(recipients)


def acceptance_problem(campaign: Campaign, now: pendulum.DateTime) -> str | None:
    """Why ``campaign`` cannot accept a trigger at ``now``, or None when it can."""
    if campaign.type is not CampaignType.API_TRIGGERED:
        return (
            f"campaign {campaign.id!r} is {campaign.type}, not API_TRIGGERED: "
            "it cannot be triggered"
        )
    if campaign.status is not CampaignStatus.LIVE:
        return (
            f"campaign {campaign.id!r} is {campaign.status}, so it is not accepting triggers "
            "(it must be LIVE)"
        )
    version = campaign.live_version
    schedule = version.schedule if version is not None else None
    if schedule is not None and schedule.start is not None and now < schedule.start:
        return f"campaign {campaign.id!r} accepts triggers from {schedule.start.isoformat()}"
    if schedule is not None and schedule.end is not None and now >= schedule.end:
        return f"campaign {campaign.id!r} stopped accepting triggers at {schedule.end.isoformat()}"
    return None


def require_valid(problems: list[str], subject: str) -> None:
    """Raise one ``ValidationError`` listing ``problems``, if there are any."""
    if problems:
        raise ValidationError(problems, subject=subject)
