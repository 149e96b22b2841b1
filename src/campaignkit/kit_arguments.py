"""Checks of the arguments that wire a :class:`~campaignkit.kit.CampaignKit`, and of its verbs'.

A kit built with a wrong argument (a string for ``clock``, a list for
``channels``) would fail much later, inside a verb or a tick, with a raw
``AttributeError``. These checks refuse it when the kit is built, with one
``ValidationError`` naming every wrong argument. Protocol arguments are
checked by their methods (duck typing: nothing needs to inherit).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from campaignkit.delivery.runner import DeliverySettings
from campaignkit.domain import checks
from campaignkit.domain.channels import ChannelType
from campaignkit.domain.delivery import FeedbackEvent
from campaignkit.domain.lifecycle import LifecycleRules
from campaignkit.domain.unsubscribe import UnsubscribeSigner, secret_problems
from campaignkit.permissions import Permission, ProductProfile
from campaignkit.scale.factory import factory_problems
from campaignkit.scale.submit import executor_problems

_PROTOCOLS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "clock": ("a Clock (with now())", ("now",)),
    "store": ("a Store (with unit_of_work())", ("unit_of_work",)),
    "policy": ("a PermissionPolicy (with decide())", ("decide",)),
    "audiences": (
        "an AudienceSource (with status(), count(), members())",
        ("status", "count", "members"),
    ),
    "profiles": ("a ProfileStore (with get())", ("get",)),
}


def _has_methods(value: object, methods: tuple[str, ...]) -> bool:
    return all(callable(getattr(value, method, None)) for method in methods)


def kit_argument_problems(**given: object) -> list[str]:
    """Every problem with the kit arguments given (``None`` means the default).

    Args:
        **given: The arguments by name: ``clock``, ``store``, ``channels``,
            ``audiences``, ``profiles``, ``policy``, ``profile_permissions``,
            ``lifecycle``, ``delivery``, ``ids``, ``progress``, ``path``,
            ``busy_timeout``, ``secret``, ``executor``, ``factory`` (these two
            go together).
    """
    problems: list[str] = []
    if "executor" in given and (given["executor"] is None) != (given.get("factory") is None):
        problems.append(
            "executor and factory go together: pass both (the executor runs shard tasks, "
            'the factory "package.module:function" rebuilds the kit in its workers) or neither'
        )
    for name, value in given.items():
        if value is None:
            continue
        if name in _PROTOCOLS:
            expected, methods = _PROTOCOLS[name]
            if not _has_methods(value, methods):
                problems.append(f"{name} must be {expected}, not {checks.describe(value)}")
        elif name == "channels":
            _channels(problems, value)
        elif name == "profile_permissions":
            _profile_permissions(problems, value)
        elif name == "lifecycle":
            checks.instance(problems, name, value, LifecycleRules)
        elif name == "delivery":
            checks.instance(problems, name, value, DeliverySettings)
        elif name in ("ids", "progress"):
            if not callable(value):
                problems.append(f"{name} must be a function, not {checks.describe(value)}")
        elif name == "path":
            if not isinstance(value, (str, os.PathLike)):
                problems.append(
                    f"path must be a file name (str or pathlib.Path), not {checks.describe(value)}"
                )
            elif isinstance(value, str):
                checks.text(problems, "path", value, max_length=4096)
        elif name == "secret":
            problems.extend(secret_problems(value))
        elif name == "executor":
            problems.extend(executor_problems(value))
        elif name == "factory":
            problems.extend(factory_problems(value))
        elif name == "busy_timeout":
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or value < 0
            ):
                problems.append(
                    f"busy_timeout must be a number of seconds, at least 0, "
                    f"not {checks.describe(value)}"
                )
        else:  # pragma: no cover - a programming error in the caller
            raise AssertionError(f"unknown kit argument {name!r}")
    return problems


def check_kit_arguments(**given: object) -> None:
    """Raise one ``ValidationError`` naming every wrong kit argument.

    Raises:
        ValidationError: see :func:`kit_argument_problems`.
    """
    checks.raise_if(kit_argument_problems(**given), "CampaignKit")


def check_submitter(submitter: object) -> None:
    """Refuse a ``kit.shard_submitter`` that is neither None nor a ``ShardSubmitter``.

    Args:
        submitter: What is set.

    Raises:
        ValidationError: it has no ``submit`` method.
    """
    if submitter is not None and not callable(getattr(submitter, "submit", None)):
        checks.raise_if(
            [
                "shard_submitter must be a ShardSubmitter (with submit(run_id, number)) "
                f"or None, not {checks.describe(submitter)}"
            ],
            "CampaignKit",
        )


def check_shard(run_id: object, number: object) -> None:
    """Refuse the arguments of ``kit.work_shard`` unless a run id and a shard number.

    Args:
        run_id: The run's id.
        number: The shard's number.

    Raises:
        ValidationError: ``run_id`` is not a string or ``number`` not a whole number.
    """
    problems: list[str] = []
    checks.text(problems, "run_id", run_id)
    checks.whole_number(problems, "number", number, minimum=0)
    checks.raise_if(problems, "work_shard")


def check_run_id(run_id: object, subject: str) -> None:
    """Refuse a run id that is not a string.

    Args:
        run_id: The run id given.
        subject: The verb it was given to (named in the error).

    Raises:
        ValidationError: ``run_id`` is not a string.
    """
    problems: list[str] = []
    checks.text(problems, "run_id", run_id)
    checks.raise_if(problems, subject)


def check_when(when: object) -> None:
    """Refuse a ``kit.run_until`` instant that is not a time-zone aware date-time.

    Args:
        when: The instant given.

    Raises:
        ValidationError: ``when`` is not a time-zone aware date-time.
    """
    problems: list[str] = []
    checks.aware_datetime(problems, "when", when)
    checks.raise_if(problems, "run_until")


def unsubscribe_signer(signer: UnsubscribeSigner | None) -> UnsubscribeSigner:
    """The signer ``kit.unsubscribe`` verifies tokens with, refused when the kit has none.

    Args:
        signer: The kit's signer (None: it was built without a ``secret``).

    Returns:
        The signer.

    Raises:
        ValidationError: the kit has no ``secret``.
    """
    if signer is None:
        checks.raise_if(
            [
                "the kit has no secret to verify unsubscribe tokens with; pass the "
                "secret that signed them as secret=... when creating the kit"
            ],
            "unsubscribe",
        )
    assert signer is not None
    return signer


def check_listener(listener: object) -> None:
    """Refuse a ``kit.subscribe`` listener that cannot be called.

    Args:
        listener: The listener.

    Raises:
        ValidationError: ``listener`` is not callable.
    """
    if not callable(listener):
        problem = f"listener must be a function of one DomainEvent, not {checks.describe(listener)}"
        checks.raise_if([problem], "subscribe")


def feedback_event(provider_message_id: object, event: object) -> FeedbackEvent:
    """The event ``kit.record_feedback`` was given, its arguments checked.

    Args:
        provider_message_id: The provider's id of the message.
        event: A ``FeedbackEvent``, or its value.

    Returns:
        The event.

    Raises:
        ValidationError: ``provider_message_id`` is not a UTF-8 string, or
            ``event`` is not a ``FeedbackEvent`` (or its value).
    """
    problems: list[str] = []
    checks.text(problems, "provider_message_id", provider_message_id, max_length=checks.MAX_ADDRESS)
    known = {e.value: e for e in FeedbackEvent}
    kind = known.get(event) if isinstance(event, str) else None
    if kind is None:
        problems.append(
            f"event must be a ck.FeedbackEvent ({', '.join(known)}), not {checks.describe(event)}"
        )
    checks.raise_if(problems, "feedback")
    assert kind is not None
    return kind


def _channels(problems: list[str], value: object) -> None:
    if not isinstance(value, Mapping):
        problems.append(
            "channels must be a mapping of ck.ChannelType to a Channel (with send()), "
            f"not {checks.describe(value)}"
        )
        return
    for key, channel in value.items():
        if not isinstance(key, ChannelType):
            problems.append(f"channels key {checks.describe(key)} must be a ck.ChannelType")
        elif not _has_methods(channel, ("send",)):
            problems.append(
                f"channels[{key.value}] must be a Channel (with send()), "
                f"not {checks.describe(channel)}"
            )


def _profile_permissions(problems: list[str], value: object) -> None:
    if not isinstance(value, Mapping):
        problems.append(
            "profile_permissions must be a mapping of ck.ProductProfile to a set of "
            f"ck.Permission, not {checks.describe(value)}"
        )
        return
    for key, permissions in value.items():
        if not isinstance(key, ProductProfile):
            problems.append(
                f"profile_permissions key {checks.describe(key)} must be a ck.ProductProfile"
            )
        elif not isinstance(permissions, (set, frozenset)) or not all(
            isinstance(p, Permission) for p in permissions
        ):
            problems.append(
                f"profile_permissions[{key.value}] must be a set of ck.Permission, "
                f"not {checks.describe(permissions)}"
            )
