"""Channel configuration of ``campaignkit worker``: a small TOML file, secrets from the environment.

The worker reads its channels from one TOML file (``--config``). Secrets
should not sit in that file: every secret can instead be named by the
environment variable that holds it (``*_env`` keys), and the unsubscribe
signing secret comes from ``CAMPAIGNKIT_SECRET``. No other environment
variable is read. Example::

    # worker.toml
    # secret = "..."                  # the unsubscribe secret; prefer CAMPAIGNKIT_SECRET

    [channels.email]
    type = "smtp"
    host = "smtp.example.com"
    port = 587                        # default 587
    security = "starttls"             # "starttls" (default), "tls" or "none"
    username = "mailer"
    password_env = "SMTP_PASSWORD"    # or password = "..." (not recommended)
    connections = 4                   # pooled SMTP connections (default 4)
    timeout = 30.0                    # seconds (default 30)

    [channels.sms]
    type = "webhook"
    url = "https://sms.example.com/hooks/campaignkit"
    secret_env = "SMS_WEBHOOK_SECRET" # or secret = "whsec_..."; unsigned without either
    concurrency = 16                  # requests in flight (default 16)
    timeout = 10.0                    # seconds (default 10)
    payload = "myshop.sms:payload"    # optional: module:function shaping the JSON body
    headers = { Authorization = "Bearer ..." }  # optional extra headers (strings)

    [channels.push]
    type = "console"                  # prints every message: for trying things out

    [delivery]                        # optional: ck.DeliverySettings (defaults shown)
    # at most: batch_size 100000, max_attempts 1000, lease 86400 (one day)
    batch_size = 500                  # audience members per batch
    max_attempts = 5                  # sends of a message before a transient failure is final
    lease = 60                        # seconds a worker owns a run after each renewal

Rules:

- The channel tables are ``email``, ``sms`` and ``push``; each has a
  ``type``: ``smtp`` (:class:`~campaignkit.adapters.smtp.SMTPChannel`),
  ``webhook`` (:class:`~campaignkit.adapters.webhook.WebhookChannel`, needs
  ``pip install 'campaignkit[http]'``) or ``console``
  (:class:`~campaignkit.adapters.console.ConsoleChannel`). At least one
  channel must be configured. A campaign whose action uses a channel that is
  not configured cannot be activated (the preflight names it).
- A key and its ``*_env`` twin are exclusive; a named variable must be set.
- ``CAMPAIGNKIT_SECRET``, when set, wins over a top-level ``secret``.
- Any unknown key, unknown channel or type, or a value of the wrong type is
  an error naming the key and the file; nothing starts.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

import attrs
import pendulum

from campaignkit.clock import Clock
from campaignkit.delivery.runner import DeliverySettings
from campaignkit.domain.channels import ChannelType
from campaignkit.errors import CampaignKitError, ValidationError
from campaignkit.ports import Channel

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SECRET_ENV: Final = "CAMPAIGNKIT_SECRET"
"""The environment variable holding the unsubscribe signing secret."""

_TOP_KEYS: Final = frozenset({"secret", "channels", "delivery"})
_DELIVERY_KEYS: Final = ("batch_size", "max_attempts", "lease")
_DELIVERY_MAX: Final[Mapping[str, int]] = {
    "batch_size": 100_000,
    "max_attempts": 1000,
    "lease": 86_400,
}
"""The largest value of each ``[delivery]`` key (a lease of at most a day, in seconds)."""
_TYPES: Final = '"smtp", "webhook" or "console"'

Kind = type[str] | type[int] | type[float] | type[dict[str, Any]]
_SMTP_KEYS: Final[Mapping[str, Kind]] = {
    "type": str,
    "host": str,
    "port": int,
    "security": str,
    "username": str,
    "password": str,
    "password_env": str,
    "connections": int,
    "timeout": float,
}
_WEBHOOK_KEYS: Final[Mapping[str, Kind]] = {
    "type": str,
    "url": str,
    "secret": str,
    "secret_env": str,
    "concurrency": int,
    "timeout": float,
    "headers": dict,
    "payload": str,
}
_CONSOLE_KEYS: Final[Mapping[str, Kind]] = {"type": str}
_KEYS: Final[Mapping[str, Mapping[str, Kind]]] = {
    "smtp": _SMTP_KEYS,
    "webhook": _WEBHOOK_KEYS,
    "console": _CONSOLE_KEYS,
}
_KIND_NAMES: Final[Mapping[Kind, str]] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    dict: "a table",
}


@attrs.frozen
class WorkerConfig:
    """What ``campaignkit worker`` runs with.

    Attributes:
        channels: The configured channels by type.
        secret: The unsubscribe signing secret, if any.
        delivery: How runs deliver (the ``[delivery]`` table over the defaults).
    """

    channels: Mapping[ChannelType, Channel]
    secret: str | None = attrs.field(default=None, repr=False)
    delivery: DeliverySettings = attrs.field(factory=DeliverySettings)

    def close(self) -> None:
        """Close every channel that can be closed (connection pools, threads)."""
        for channel in self.channels.values():
            close = getattr(channel, "close", None)
            if callable(close):
                close()


def load_config(
    path: str | os.PathLike[str] | None,
    *,
    env: Mapping[str, str] | None = None,
    clock: Clock | None = None,
) -> WorkerConfig:
    """Read the worker's configuration from a TOML file and the environment.

    Args:
        path: The TOML file; None reads the environment only (and configures
            no channel, which :func:`parse_config` refuses).
        env: The environment (default ``os.environ``).
        clock: Given to webhook channels to date ``webhook-timestamp``.

    Returns:
        The channels, built, and the secret.

    Raises:
        ValidationError: the file cannot be read, is not TOML, or a key is
            unknown or wrong (each problem names the key and the file).
    """
    environ = os.environ if env is None else env
    if path is None:
        return parse_config({}, source="no --config file given", env=environ, clock=clock)
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:  # ValueError: not UTF-8, or a NUL in the path
        raise ValidationError([f"cannot read it: {exc}"], subject=source) from exc
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValidationError([f"is not valid TOML: {exc}"], subject=source) from exc
    return parse_config(document, source=source, env=environ, clock=clock)


def parse_config(
    document: Mapping[str, Any],
    *,
    source: str,
    env: Mapping[str, str],
    clock: Clock | None = None,
) -> WorkerConfig:
    """Build the channels a parsed TOML document describes (see the module docs).

    Args:
        document: The parsed TOML.
        source: Where it came from, for error messages (the file name).
        env: The environment (``*_env`` keys and ``CAMPAIGNKIT_SECRET``).
        clock: Given to webhook channels to date ``webhook-timestamp``.

    Raises:
        ValidationError: one problem per wrong key, each naming it; channels
            already built are closed.
    """
    problems: list[str] = []
    for key in document:
        if key not in _TOP_KEYS:
            problems.append(f"unknown key {key!r} (known: channels, delivery, secret)")
    secret = _typed(problems, document, "secret", str, "secret")
    if env.get(SECRET_ENV):
        secret = env[SECRET_ENV]
    tables = _typed(problems, document, "channels", dict, "channels") or {}
    channels: dict[ChannelType, Channel] = {}
    known = {c.value: c for c in ChannelType}
    for name, table in tables.items():
        where = f"channels.{name}"
        if name not in known:
            problems.append(f"unknown channel {where!r} (known: {', '.join(known)})")
        elif not isinstance(table, dict):
            problems.append(f"{where} must be a table, such as [{where}]")
        else:
            channel = _channel(problems, where, table, env, clock)
            if channel is not None:
                channels[known[name]] = channel
    delivery = _delivery(problems, _typed(problems, document, "delivery", dict, "delivery") or {})
    if not problems and not channels:
        problems.append(
            "configures no channel: add a [channels.email], [channels.sms] or "
            '[channels.push] table with type = "smtp", "webhook" or "console"'
        )
    config = WorkerConfig(channels, secret, delivery)
    if problems:
        config.close()
        raise ValidationError(problems, subject=source)
    return config


def _delivery(problems: list[str], table: Mapping[str, Any]) -> DeliverySettings:
    """The delivery settings of a ``[delivery]`` table (positive whole numbers)."""
    changes: dict[str, Any] = {}
    for key, value in table.items():
        where = f"delivery.{key}"
        if key not in _DELIVERY_KEYS:
            problems.append(f"unknown key {where} (known: {', '.join(_DELIVERY_KEYS)})")
        elif _typed(problems, table, key, int, where) is None:
            pass
        elif value < 1:
            problems.append(f"{where} must be at least 1, not {value}")
        elif value > _DELIVERY_MAX[key]:
            problems.append(f"{where} must be at most {_DELIVERY_MAX[key]}, not {value}")
        elif key == "lease":
            changes[key] = pendulum.duration(seconds=value)
        else:
            changes[key] = value
    return DeliverySettings(**changes)


def _typed(problems: list[str], table: Mapping[str, Any], key: str, kind: Kind, where: str) -> Any:
    """``table[key]`` if it has the right type, else None (with a problem if it is wrong)."""
    if key not in table:
        return None
    value = table[key]
    if kind is float:
        right = isinstance(value, (int, float)) and not isinstance(value, bool)
    else:
        right = isinstance(value, kind) and not isinstance(value, bool)
    if not right:
        problems.append(f"{where} must be {_KIND_NAMES[kind]}, not {type(value).__name__}")
        return None
    return value


def _channel(
    problems: list[str],
    where: str,
    table: Mapping[str, Any],
    env: Mapping[str, str],
    clock: Clock | None,
) -> Channel | None:
    """Build the channel ``table`` describes, or None with its problems added."""
    kind = _typed(problems, table, "type", str, f"{where}.type")
    if kind is None:
        if "type" not in table:
            problems.append(f"{where}.type is missing: one of {_TYPES}")
        return None
    allowed = _KEYS.get(kind)
    if allowed is None:
        problems.append(f"{where}.type {kind!r} is unknown: one of {_TYPES}")
        return None
    found: list[str] = []
    values: dict[str, Any] = {}
    for key in table:
        if key not in allowed:
            found.append(
                f"unknown key {where}.{key} for type {kind!r} (known: {', '.join(allowed)})"
            )
            continue
        value = _typed(found, table, key, allowed[key], f"{where}.{key}")
        if value is not None and key != "type":
            values[key] = value
    if found:
        problems.extend(found)
        return None
    try:
        return _BUILDERS[kind](where, values, env, clock)
    except CampaignKitError as exc:
        detail = "; ".join(exc.problems) if isinstance(exc, ValidationError) else str(exc)
        problems.append(f"{where}: {detail}")
        return None


def _from_env(where: str, values: dict[str, Any], key: str, env: Mapping[str, str]) -> None:
    """Replace ``<key>_env`` in ``values`` by the variable it names, as ``key``.

    Raises:
        ValidationError: both keys are given, or the variable is not set.
    """
    named = values.pop(f"{key}_env", None)
    if named is None:
        return
    if key in values:
        raise ValidationError([f"give {key} or {key}_env, not both"])
    if not env.get(named):
        raise ValidationError([f"{key}_env names {named}, which is not set in the environment"])
    values[key] = env[named]


def _smtp(
    where: str, values: dict[str, Any], env: Mapping[str, str], clock: Clock | None
) -> Channel:
    from campaignkit.adapters.smtp import SMTPChannel  # noqa: PLC0415 - only when configured

    _from_env(where, values, "password", env)
    if "host" not in values:
        raise ValidationError(['host is missing, such as host = "smtp.example.com"'])
    host = values.pop("host")
    return SMTPChannel(host, **values)


def _webhook(
    where: str, values: dict[str, Any], env: Mapping[str, str], clock: Clock | None
) -> Channel:
    from campaignkit.adapters.webhook import WebhookChannel  # noqa: PLC0415 - the http extra

    _from_env(where, values, "secret", env)
    if "url" not in values:
        raise ValidationError(['url is missing, such as url = "https://example.com/hook"'])
    url = values.pop("url")
    if "payload" in values:
        values["payload"] = _imported(values["payload"])
    if "headers" in values:
        wrong = [k for k, v in values["headers"].items() if not isinstance(v, str)]
        if wrong:
            raise ValidationError([f"headers.{wrong[0]} must be a string"])
    return WebhookChannel(url, clock=clock, **values)


def _console(
    where: str, values: dict[str, Any], env: Mapping[str, str], clock: Clock | None
) -> Channel:
    from campaignkit.adapters.console import ConsoleChannel  # noqa: PLC0415 - only when configured

    return ConsoleChannel()


_BUILDERS: Final[
    Mapping[str, Callable[[str, dict[str, Any], Mapping[str, str], Clock | None], Channel]]
] = {"smtp": _smtp, "webhook": _webhook, "console": _console}


def _imported(reference: str) -> Callable[..., Any]:
    """The callable ``module:name`` refers to.

    Raises:
        ValidationError: it cannot be imported or is not callable.
    """
    module_name, _, name = reference.partition(":")
    if not module_name or not name:
        raise ValidationError([f"payload {reference!r} must be 'module:function'"])
    try:
        found = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError, TypeError, ValueError) as exc:  # "..x": relative
        raise ValidationError([f"payload {reference!r} cannot be imported: {exc}"]) from exc
    if not callable(found):
        raise ValidationError([f"payload {reference!r} is not callable"])
    return found  # type: ignore[no-any-return]
