"""Profiles: the recipients of campaigns."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any, cast

import attrs

from campaignkit.domain import checks, display
from campaignkit.domain.channels import ChannelType
from campaignkit.timeutil import MAX_TIMEZONE_NAME

MAX_LANGUAGE = 35
"""Characters in a language tag (BCP 47 tags in practice are far shorter)."""


_CHANNELS: dict[object, ChannelType] = {c.value: c for c in ChannelType}
_SCALARS = frozenset({str, int, float, bool, type(None)})
_EMPTY: Mapping[Any, Any] = MappingProxyType({})
_PLAIN_NAMESPACES: set[str] = set()
"""Identity namespaces :func:`plain_decoded_profile` found plain (ASCII, not blank, short).

Its checks of a namespace are asked once: a name seen before is looked up here.
"""
_MAX_PLAIN_NAMESPACES = 256
"""The most namespaces kept in :data:`_PLAIN_NAMESPACES`; others are checked each time."""
_ONE_CONSENT: dict[tuple[str, bool], Mapping[Any, Any]] = {
    (c.value, given): MappingProxyType({c: given}) for c in ChannelType for given in (True, False)
}
"""The frozen consents of one channel, shared by every decoded profile with just that one.

A read-only view of a dict no one else holds, so sharing it is as good as a
copy; :func:`plain_decoded_profile` looks a one-entry ``consents`` object up
here (its value exactly ``True`` or ``False``, never ``1``) instead of
building a dict and a view per profile.
"""


def _frozen_mapping(value: Mapping[Any, Any]) -> Mapping[Any, Any]:
    if not value and type(value) is dict:
        return _EMPTY
    if not isinstance(cast("object", value), Mapping):
        return value  # refused, with its argument named, by Profile.__attrs_post_init__
    return MappingProxyType(dict(value))


def channel_mapping(value: Mapping[Any, Any]) -> Mapping[Any, Any]:
    """Freeze a mapping keyed by channel, turning ``"email"`` into ``ChannelType.EMAIL``."""
    if not value and type(value) is dict:
        return _EMPTY
    if not isinstance(cast("object", value), Mapping):
        return value
    if all(type(k) is ChannelType for k in value):
        return MappingProxyType(dict(value))
    return MappingProxyType(
        {_CHANNELS.get(k, k) if isinstance(k, str) else k: v for k, v in value.items()}
    )


def _plain_text(value: object, limit: int) -> bool:
    return (
        type(value) is str and 0 < len(value) <= limit and value.isascii() and value.strip() != ""
    )


def _plain_json(value: object, depth: int = 1) -> int:
    """A fast estimate of the JSON size of a small, plain value; -1 if it needs the full check."""
    kind = type(value)
    if kind in _SCALARS:
        if isinstance(value, str):
            return len(value) + 2 if value.isascii() else -1
        if kind is int and not checks.MIN_JSON_INT <= value <= checks.MAX_JSON_INT:  # type: ignore[operator]
            return -1
        return -1 if kind is float and not math.isfinite(value) else 24  # type: ignore[arg-type]
    if depth >= checks.MAX_JSON_DEPTH:
        return -1
    size = 2
    if kind is dict or kind is MappingProxyType:
        for key, sub in value.items():  # type: ignore[attr-defined]
            if type(key) is not str or not key.isascii():
                return -1
            inner = _plain_json(sub, depth + 1)
            if inner < 0:
                return -1
            size += len(key) + 4 + inner
        return size
    if kind is list or kind is tuple:
        for sub in value:  # type: ignore[attr-defined]
            inner = _plain_json(sub, depth + 1)
            if inner < 0:
                return -1
            size += inner + 1
        return size
    return -1


def _plainly_valid(profile: Profile) -> bool:
    """True for the common profile (ASCII text, plain JSON): the full check is skipped."""
    if not _plain_text(profile.id, checks.MAX_ID) or type(profile.test) is not bool:
        return False
    zone, language = profile.timezone, profile.language
    if zone is not None and not (
        type(zone) is str and len(zone) <= MAX_TIMEZONE_NAME and zone.isascii()
    ):
        return False
    if language is not None and not _plain_text(language, MAX_LANGUAGE):
        return False
    identities, consents, addresses = profile.identities, profile.consents, profile.channel_data
    if (
        type(identities) is not MappingProxyType
        or type(consents) is not MappingProxyType
        or type(addresses) is not MappingProxyType
        or len(identities) > checks.MAX_IDENTITIES
    ):
        return False
    for namespace, value in identities.items():
        if not (_plain_text(namespace, checks.MAX_NAME) and _plain_text(value, checks.MAX_ID)):
            return False
    for channel, given in consents.items():
        if type(channel) is not ChannelType or type(given) is not bool:
            return False
    for channel, address in addresses.items():
        if type(channel) is not ChannelType or not _plain_text(address, checks.MAX_ADDRESS):
            return False
    attributes = profile.attributes
    return type(attributes) is MappingProxyType and 0 <= _plain_json(attributes) <= (
        checks.MAX_JSON_BYTES
    )


def _channel_keys(problems: list[str], name: str, value: Mapping[Any, Any]) -> None:
    if len(value) > checks.MAX_IDENTITIES:
        problems.append(f"{name} has {len(value)} entries; the limit is {checks.MAX_IDENTITIES}")
    for key in value:
        if not isinstance(key, ChannelType):
            names = ", ".join(c.value for c in ChannelType)
            problems.append(
                f"{name} has the key {checks.describe(key)}: keys must be channels ({names})"
            )


def address_map_problems(name: str, value: object) -> list[str]:
    """What is wrong with an address per channel (``channel_data`` of a profile or recipient).

    Args:
        name: The argument's name, for the messages.
        value: What the caller passed (keys already converted by the constructor).

    Returns:
        One string per problem (empty when it is a valid map of channel to address).
    """
    problems: list[str] = []
    if not checks.instance(problems, name, value, Mapping):
        return problems
    assert isinstance(value, Mapping)
    _channel_keys(problems, name, value)
    for key, address in value.items():
        checks.text(problems, f"{name}[{key!s}]", address, max_length=checks.MAX_ADDRESS)
    return problems


def profile_problems(profile: Profile) -> list[str]:
    """Every problem with a profile's fields (types, sizes, UTF-8, time zone)."""
    problems: list[str] = []
    checks.text(problems, "id", profile.id, max_length=checks.MAX_ID)
    if checks.instance(problems, "identities", profile.identities, Mapping):
        if len(profile.identities) > checks.MAX_IDENTITIES:
            problems.append(
                f"identities has {len(profile.identities)} namespaces; "
                f"the limit is {checks.MAX_IDENTITIES}"
            )
        for namespace, value in profile.identities.items():
            checks.text(problems, "identities (a namespace)", namespace)
            checks.text(
                problems, f"identities[{checks.shown(namespace)}]", value, max_length=checks.MAX_ID
            )
    if checks.instance(problems, "attributes", profile.attributes, Mapping):
        checks.json_value(problems, "attributes", profile.attributes)
    if checks.instance(problems, "consents", profile.consents, Mapping):
        _channel_keys(problems, "consents", profile.consents)
        for channel, given in profile.consents.items():
            checks.boolean(problems, f"consents[{channel!s}]", given)
    problems.extend(address_map_problems("channel_data", profile.channel_data))
    # An unknown zone is kept: delivery falls back to the campaign's and counts it.
    checks.optional_text(
        problems, "timezone", profile.timezone, max_length=MAX_TIMEZONE_NAME, allow_empty=True
    )
    checks.optional_text(problems, "language", profile.language, max_length=MAX_LANGUAGE)
    checks.boolean(problems, "test", profile.test)
    return problems


@attrs.frozen(eq=True, hash=False)
class Profile:
    """A recipient.

    Attributes:
        id: Profile identifier.
        identities: Identity per namespace (``{"email": "ann@example.com"}``).
        attributes: Nested attributes templates read as ``profile.<path>``.
        consents: Opt-in per channel (marketing messages need it).
        channel_data: Address per channel when it differs from the identity.
        timezone: IANA time zone (or UTC offset such as ``"+05:30"``) of the recipient,
            if known; delivery uses the campaign's zone for an unknown one.
        language: Preferred language, if known.
        test: A test profile (an internal inbox): the only kind proofs may reach.
    """

    id: str
    identities: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_mapping)
    attributes: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_mapping)
    consents: Mapping[ChannelType, bool] = attrs.field(factory=dict, converter=channel_mapping)
    channel_data: Mapping[ChannelType, str] = attrs.field(factory=dict, converter=channel_mapping)
    timezone: str | None = None
    language: str | None = None
    test: bool = False

    def __attrs_post_init__(self) -> None:
        """Refuse a profile that could not be stored or used, naming each bad field.

        Raises:
            ValidationError: a wrong type, a string that is not UTF-8, an id,
                identity or address beyond its documented length, attributes
                nested deeper than 32 levels or larger than 200 KB as JSON, or a
                time zone name longer than 64 characters.
        """
        if not _plainly_valid(self):
            checks.raise_if(profile_problems(self), f"profile {checks.shown(self.id)}")

    def __repr__(self) -> str:
        """The profile in one line: empty fields left out, long mappings and text cut short."""
        return display.profile_repr(self)


PROFILE_FIELDS = (
    "id",
    "identities",
    "attributes",
    "consents",
    "channel_data",
    "timezone",
    "language",
    "test",
)
"""The fields :func:`decoded_profile` sets, in order (a test keeps it equal to ``Profile``'s)."""

_set = object.__setattr__
_new = object.__new__
_slot = {name: vars(Profile)[name].__set__ for name in PROFILE_FIELDS}
"""Each field's slot setter: what ``object.__setattr__`` ends in, without its look-up."""
_set_id, _set_identities, _set_attributes = _slot["id"], _slot["identities"], _slot["attributes"]
_set_consents, _set_channel_data = _slot["consents"], _slot["channel_data"]
_set_timezone, _set_language, _set_test = _slot["timezone"], _slot["language"], _slot["test"]


def _owned_mapping(value: dict[Any, Any]) -> Mapping[Any, Any]:
    return MappingProxyType(value) if value else _EMPTY


def _owned_channel_mapping(value: dict[Any, Any]) -> Mapping[Any, Any]:
    if not value:
        return _EMPTY
    return MappingProxyType({_CHANNELS.get(k, k): v for k, v in value.items()})


def decoded_profile(
    *,
    id: str,
    identities: dict[str, Any],
    attributes: dict[str, Any],
    consents: dict[Any, Any],
    channel_data: dict[Any, Any],
    timezone: str | None,
    language: str | None,
    test: bool,
) -> Profile:
    """A ``Profile`` built from freshly decoded JSON, without the constructor's copies.

    For a decoder that owns the dicts it passes (no one else holds them): they
    are frozen in place instead of copied, channel names become
    :class:`ChannelType` keys, and the profile gets exactly the checks
    ``Profile()`` applies (the fast check, else every check). The result
    equals ``Profile(id, identities, ...)`` with the same arguments.

    Args:
        id: Profile identifier.
        identities: Identity per namespace (taken over, not copied).
        attributes: Nested attributes (taken over, not copied).
        consents: Opt-in per channel name or channel.
        channel_data: Address per channel name or channel.
        timezone: IANA time zone or UTC offset, or None.
        language: Preferred language, or None.
        test: A test profile.

    Returns:
        The checked profile.

    Raises:
        ValidationError: the values would not make a valid ``Profile``
            (every bad field is named, as ``Profile()`` names them).
    """
    profile: Profile = object.__new__(Profile)
    _set(profile, "id", id)
    _set(profile, "identities", _owned_mapping(identities))
    _set(profile, "attributes", _owned_mapping(attributes))
    _set(profile, "consents", _owned_channel_mapping(consents))
    _set(profile, "channel_data", _owned_channel_mapping(channel_data))
    _set(profile, "timezone", timezone)
    _set(profile, "language", language)
    _set(profile, "test", test)
    if not _plainly_valid(profile):
        checks.raise_if(profile_problems(profile), f"profile {checks.shown(profile.id)}")
    return profile


_MAX_ID, _MAX_NAME, _MAX_ADDRESS = checks.MAX_ID, checks.MAX_NAME, checks.MAX_ADDRESS


def plain_decoded_profile(data: dict[str, Any]) -> Profile | None:  # noqa: PLR0915 - one pass, no calls
    """The profile of a freshly decoded ``data`` object in the common shape, else None.

    The decoder's fast path: ``data`` must hold exactly the eight fields, as
    JSON gives them (dicts keyed by text, channel names as text), each value
    passing the fast check ``Profile()`` applies (:func:`_plainly_valid`:
    ASCII text within its length, known channels, booleans, plain JSON
    attributes). Then the profile is built in one pass, the dicts taken over
    (not copied), and equals ``Profile(**data)``. For anything else (a value
    that needs the full check, a missing or extra field) the answer is None
    and the caller takes the general path, which gives the exact result or
    error.

    Args:
        data: The ``data`` of a stored profile document, owned by the caller.

    Returns:
        The profile, or None.
    """
    if len(data) != 8:
        return None
    try:
        profile_id, identities, attributes = data["id"], data["identities"], data["attributes"]
        consents, addresses, test = data["consents"], data["channel_data"], data["test"]
        zone, language = data["timezone"], data["language"]
    except KeyError:  # another field in its place
        return None
    if (
        type(profile_id) is not str
        or not 0 < len(profile_id) <= _MAX_ID
        or not profile_id.isascii()
        or profile_id.isspace()
        or type(test) is not bool
        or type(identities) is not dict
        or type(attributes) is not dict
        or type(consents) is not dict
        or type(addresses) is not dict
        or len(identities) > checks.MAX_IDENTITIES
    ):
        return None
    if zone is not None and not (
        type(zone) is str and len(zone) <= MAX_TIMEZONE_NAME and zone.isascii()
    ):
        return None
    if language is not None and not _plain_text(language, MAX_LANGUAGE):
        return None
    namespaces = _PLAIN_NAMESPACES
    for namespace, value in identities.items():
        if namespace not in namespaces:
            if not (0 < len(namespace) <= _MAX_NAME and namespace.isascii()) or namespace.isspace():
                return None
            if len(namespaces) < _MAX_PLAIN_NAMESPACES:
                namespaces.add(namespace)
        if not (
            type(value) is str
            and 0 < len(value) <= _MAX_ID
            and value.isascii()
            and not value.isspace()
        ):
            return None
    channels = _CHANNELS
    shared = None
    if len(consents) == 1:  # one channel's consent: its shared view (exactly True or False)
        [one] = consents.items()
        if type(one[1]) is bool:
            shared = _ONE_CONSENT.get(one)
    if shared is not None:
        frozen_consents: Mapping[Any, Any] = shared
    elif consents:
        given: dict[Any, Any] = {}
        for name, consent in consents.items():
            channel = channels.get(name)
            if channel is None or type(consent) is not bool:
                return None
            given[channel] = consent
        frozen_consents = MappingProxyType(given)
    else:
        frozen_consents = _EMPTY
    if addresses:
        known: dict[Any, Any] = {}
        for name, address in addresses.items():
            channel = channels.get(name)
            if channel is None or not _plain_text(address, _MAX_ADDRESS):
                return None
            known[channel] = address
        frozen_addresses: Mapping[Any, Any] = MappingProxyType(known)
    else:
        frozen_addresses = _EMPTY
    if attributes:
        size = 2  # what _plain_json counts for text keys and values, without its calls
        for key, value in attributes.items():
            if type(value) is not str or type(key) is not str:
                size = _plain_json(attributes)
                break
            if not (value.isascii() and key.isascii()):
                return None
            size += len(key) + len(value) + 6
        if not 0 <= size <= checks.MAX_JSON_BYTES:
            return None
    profile: Profile = _new(Profile)
    _set_id(profile, profile_id)
    _set_identities(profile, MappingProxyType(identities) if identities else _EMPTY)
    _set_attributes(profile, MappingProxyType(attributes) if attributes else _EMPTY)
    _set_consents(profile, frozen_consents)
    _set_channel_data(profile, frozen_addresses)
    _set_timezone(profile, zone)
    _set_language(profile, language)
    _set_test(profile, test)
    return profile


def checked_profile(value: object, name: str = "profile") -> Profile:
    """``value`` if it is a :class:`Profile` (what a profile store accepts).

    Raises:
        ValidationError: it is not a ``Profile``.
    """
    if not isinstance(value, Profile):
        checks.raise_if(
            [f"{name} must be a ck.Profile, not {checks.describe(value)}"], "profile store"
        )
    assert isinstance(value, Profile)
    return value


def checked_profile_id(value: object, name: str = "profile_id") -> str:
    """``value`` if it is a string a store can look up.

    An empty or over-long id is no error for a lookup: no profile has it, so
    the answer is "not found".

    Raises:
        ValidationError: not a string, or not encodable as UTF-8.
    """
    if type(value) is not str or not checks.encodable(value):
        problems: list[str] = []
        longest = len(value) if isinstance(value, str) else 0  # any length is looked up
        checks.text(problems, name, value, max_length=longest, allow_empty=True)
        checks.raise_if(problems, "profile store")
    assert isinstance(value, str)
    return value


def checked_profile_ids(value: object) -> tuple[str, ...]:
    """``value`` as a tuple of ids to look up (any iterable of strings but a bare string).

    Raises:
        ValidationError: a bare string or mapping, or items that are not
            UTF-8 strings (the first few are named).
    """
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        checks.raise_if(
            [f"profile_ids must be a list of ids, not {checks.describe(value)}"], "profile store"
        )
    assert isinstance(value, Iterable)
    ids = tuple(value)
    if not all(type(i) is str for i in ids) or not checks.encodable("\n".join(ids)):
        for index, item in enumerate(ids):
            checked_profile_id(item, f"profile_ids[{index}]")
    return ids


def checked_identity(namespace: object, value: object) -> tuple[str, str]:
    """An identity to look up: a namespace and a value, both strings.

    Raises:
        ValidationError: either is not a UTF-8 string.
    """
    return checked_profile_id(namespace, "namespace"), checked_profile_id(value, "value")


MAX_BATCH_SIZE = 1_000_000
"""The largest batch a profile store or audience is asked for."""


def check_batch_size(value: object) -> None:
    """Refuse a batch size that is not a whole number of at least 1.

    Raises:
        ValidationError: naming ``batch_size``.
    """
    problems: list[str] = []
    checks.whole_number(problems, "batch_size", value, minimum=1, maximum=MAX_BATCH_SIZE)
    checks.raise_if(problems, "profile store")
