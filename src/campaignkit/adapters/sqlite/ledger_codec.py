"""The text a SQLite ledger row keeps its message in (see :mod:`.ledger`).

The text is the surface settings' JSON (cached per settings object), a
newline, then ``[fields, flags, unsubscribe_url]`` followed by the
idempotency key, run, campaign, action, profile, channel and address only
when they differ from the row's own. :func:`encode_message` writes it,
:func:`decode_message` reads it back, without cattrs.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring_ascii as _escape
from types import MappingProxyType
from typing import Any, Final, TypeAlias

import attrs

from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import Message
from campaignkit.domain.surface import EmailSettings, PushSettings, SmsSettings, SurfaceSettings
from campaignkit.errors import StorageError

_CHANNELS: Final = {channel.value: channel for channel in ChannelType}
_SETTINGS_TYPES: Final[dict[str, type[SurfaceSettings]]] = {
    "email": EmailSettings,
    "sms": SmsSettings,
    "push": PushSettings,
}
_SETTINGS_TAGS: Final[dict[type[Any], str]] = {cls: tag for tag, cls in _SETTINGS_TYPES.items()}
_CACHE_SIZE: Final = 256  # a run has one settings value per action: a few distinct ones

_settings_lock = threading.Lock()
_text_of_settings: dict[int, tuple[SurfaceSettings, str]] = {}  # id -> (the object, its text)
_settings_of_text: dict[str, SurfaceSettings] = {}


_dumps: Final = json.JSONEncoder(separators=(",", ":")).encode


def _not_default(field: attrs.Attribute[Any], value: object) -> bool:
    return bool(field.default is attrs.NOTHING or value != field.default)


def settings_text(settings: SurfaceSettings) -> str:
    """Surface settings as compact JSON ``{"kind": ..., field: value, ...}``, cached.

    Fields at their default value are left out.

    A run has a few distinct settings objects (one per action), so the text
    is computed once per object.

    Args:
        settings: Email, SMS or push settings.

    Returns:
        The JSON text (no newline).
    """
    cached = _text_of_settings.get(id(settings))
    if cached is not None and cached[0] is settings:
        return cached[1]
    tag = _SETTINGS_TAGS.get(type(settings))
    if tag is None:
        raise TypeError(f"settings must be surface settings, not {type(settings).__name__}")
    # fields at their default are left out: the constructor gives them back
    fields = attrs.asdict(settings, recurse=False, filter=_not_default)
    text = _dumps({"kind": tag, **fields})
    with _settings_lock:
        if len(_text_of_settings) >= _CACHE_SIZE:
            _text_of_settings.clear()
        _text_of_settings[id(settings)] = (settings, text)  # holds it: the id stays its own
    return text


def settings_from_text(text: str) -> SurfaceSettings:
    """The settings :func:`settings_text` wrote (any key order), cached by text.

    Raises:
        StorageError: the text is not settings.
    """
    found = _settings_of_text.get(text)
    if found is not None:
        return found
    try:
        data = json.loads(text)
        settings = _SETTINGS_TYPES[data.pop("kind")](**data)
    except Exception as exc:  # JSON, a missing or unknown kind, fields that do not fit
        raise StorageError(f"stored message settings are invalid: {exc}: {text[:80]!r}") from exc
    with _settings_lock:
        if len(_settings_of_text) >= _CACHE_SIZE:
            _settings_of_text.clear()
        _settings_of_text[text] = settings
    return settings


Basis: TypeAlias = tuple[str, str, str, str, str, "str | None"]
"""A ledger row's ``(run_id, campaign_id, action_id, profile_id, channel, address)``."""


def encode_message(message: Message, basis: Basis) -> str:
    r"""A message as compact text, relative to the ledger row that holds it.

    The text is the settings' JSON (:func:`settings_text`), a newline, and the
    JSON array ``[fields, flags, unsubscribe_url, idempotency_key, run_id,
    campaign_id, action_id, profile_id, channel, address]`` where flags is
    ``1`` for a proof plus ``2`` for transactional, and every later item is
    null when it equals the row's own value (the key: when it is the one
    derived from run, action and profile); trailing nulls are left out, so a
    run's message is usually ``settings\n[fields,flags,url]``.

    Args:
        message: The message.
        basis: The values of the row that holds it.

    Returns:
        The text :func:`decode_message` reads back.
    """
    own = (
        message.run_id,
        message.campaign_id,
        message.action_id,
        message.profile_id,
        message.channel.value,
        message.address,
    )
    if own == basis:
        return _encode_own(message)
    derived = f"{message.run_id}:{message.action_id}:{message.profile_id}"
    rest: list[Any] = [
        None if message.idempotency_key == derived else message.idempotency_key,
        *(None if mine == theirs else mine for mine, theirs in zip(own, basis, strict=True)),
    ]
    while rest and rest[-1] is None:
        rest.pop()
    flags = (1 if message.proof else 0) + (2 if message.transactional else 0)
    tail = [dict(message.fields), flags, message.unsubscribe_url, *rest]
    return settings_text(message.settings) + "\n" + _dumps(tail)


def _encode_own(message: Message) -> str:
    """:func:`encode_message` for a row made from the message itself (the hot path)."""
    # the array by hand: the same text as _dumps([fields, flags, url(, key)]), cheaper
    settings = message.settings
    cached = _text_of_settings.get(id(settings))
    head = cached[1] if cached is not None and cached[0] is settings else settings_text(settings)
    url = message.unsubscribe_url
    key = message.idempotency_key
    derived = key == f"{message.run_id}:{message.action_id}:{message.profile_id}"
    # one f-string: the same text as the array by hand, built once
    return (
        f"{head}\n[{_fields_json(message.fields)}{_FLAGS[message.proof, message.transactional]}"
        f"{'null' if url is None else _dumps(url)}{']' if derived else ',' + _dumps(key) + ']'}"
    )


def _fields_json(fields: Mapping[str, str]) -> str:
    """``_dumps(dict(fields))``; text keys and values are escaped one by one (cheaper)."""
    try:
        count = len(fields)
        if count == 2:  # an email's subject and html: no list, no join
            (key, value), (other_key, other_value) = fields.items()
            return (
                f"{{{_escape(key)}:{_escape(value)},{_escape(other_key)}:{_escape(other_value)}}}"
            )
        if count == 1:  # an SMS's text
            ((key, value),) = fields.items()
            return f"{{{_escape(key)}:{_escape(value)}}}"
        return (
            "{"
            + ",".join([_escape(key) + ":" + _escape(value) for key, value in fields.items()])
            + "}"
        )
    except TypeError:  # a key or value that is not text: the encoder converts or refuses it
        return _dumps(dict(fields))


_FLAGS: Final = {
    (proof, transactional): f",{int(proof) + 2 * int(transactional)},"
    for proof in (False, True)
    for transactional in (False, True)
}


_new = object.__new__
_assign = object.__setattr__
_TRUSTED: Final = "__slots__" not in vars(Message)
"""True when a message can be made in one step (its fields in an instance dict)."""


def decode_message(text: str, basis: Basis) -> Message:
    """The message :func:`encode_message` wrote for the row with values ``basis``.

    Raises:
        StorageError: the text is not a stored message.
    """
    head, _, tail = text.partition("\n")
    settings = settings_from_text(head)
    try:
        items = json.loads(tail)
        fields, flags, unsubscribe_url = items[0], int(items[1]), items[2]
        if len(items) > 3:
            rest = [*items[3:], *([None] * (10 - len(items)))]
            key = rest[0]
            own: Sequence[Any] = [
                theirs if mine is None else mine
                for mine, theirs in zip(rest[1:], basis, strict=True)
            ]
        else:
            key, own = None, basis
        run_id, campaign_id, action_id, profile_id, channel, address = own
        values = {
            "run_id": run_id,
            "campaign_id": campaign_id,
            "action_id": action_id,
            "profile_id": profile_id,
            "channel": _CHANNELS[channel],
            "address": address,
            "idempotency_key": f"{run_id}:{action_id}:{profile_id}" if key is None else key,
            "fields": MappingProxyType(fields) if type(fields) is dict else fields,
            "settings": settings,
            "proof": bool(flags & 1),
            "transactional": bool(flags & 2),
            "unsubscribe_url": unsubscribe_url,
        }
        if _TRUSTED and type(fields) is dict and type(address) is str:
            message: Message = _new(Message)
            _assign(message, "__dict__", values)  # what was checked when it was written
            return message
        return Message(**values)
    except Exception as exc:  # JSON, missing items, values that do not fit
        raise StorageError(f"stored message is invalid: {exc}: {tail[:80]!r}") from exc


_keyed_json: Final = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode
_pair: Final = '":"'.join
_UNSAFE: Final = bytes(range(32)) + b"\\"
"""What JSON escapes in text written as it is (control characters, backslash; quotes are
counted instead)."""


def text_object(pairs: Mapping[str, str]) -> str:
    """The compact JSON object of text keys and values, as ``json`` writes it with text as is.

    When no key or value holds a quote, a backslash or a control character
    (the common case: ids and keys) the text is joined in C without the
    encoder (about 1.5k instructions less a pair); otherwise, or for text
    that is not valid UTF-8, the encoder writes it (``ensure_ascii=False``:
    a lone surrogate stays as it is, so binding the text fails as binding it
    row by row would).

    Args:
        pairs: Keys and values, all ``str`` (the callers check their types).

    Returns:
        The JSON text, equal to ``json.dumps(pairs, separators=(",", ":"),
        ensure_ascii=False)``.
    """
    body = '","'.join(map(_pair, pairs.items()))
    try:
        raw = body.encode()
    except UnicodeEncodeError:
        return _keyed_json(pairs)
    if len(raw.translate(None, _UNSAFE)) == len(raw) and body.count('"') == 4 * len(pairs) - 2:
        return '{"' + body + '"}'
    return _keyed_json(pairs)
