"""Checks of the arguments that wire a :class:`~campaignkit.kit.CampaignKit`.

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
from campaignkit.domain.lifecycle import LifecycleRules
from campaignkit.domain.unsubscribe import secret_problems
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
