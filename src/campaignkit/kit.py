"""The composition root: :class:`CampaignKit` wires store, clock, policy and engine."""

from __future__ import annotations

import logging
import os
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence

import pendulum

from campaignkit.access import AccessDirectory
from campaignkit.adapters.memory import InMemoryStore
from campaignkit.adapters.memory_audiences import InMemoryProfileStore
from campaignkit.adapters.sqlite import SQLiteStore
from campaignkit.audiences import AudienceRegistry
from campaignkit.clock import Clock, SystemClock
from campaignkit.delivery.render import check_template
from campaignkit.domain.events import DomainEvent
from campaignkit.domain.lifecycle import LifecycleRules
from campaignkit.engine import LifecycleEngine, TickReport
from campaignkit.permissions import Permission, PermissionPolicy, ProductProfile, ProfilePolicy
from campaignkit.ports import AudienceSource, ProfileStore, Store
from campaignkit.preflight import Preflight
from campaignkit.session import UserSession

logger = logging.getLogger("campaignkit")

Listener = Callable[[DomainEvent], None]
"""A domain-event subscriber."""
IdFactory = Callable[[str], str]
"""Makes a new unique id from a kind prefix such as ``"cmp"``."""


def random_ids(prefix: str) -> str:
    """The default id factory: ``<prefix>_<32 hex digits>`` from a random UUID."""
    return f"{prefix}_{uuid.uuid4().hex}"


class CampaignKit:
    """Everything campaignkit needs, wired together; the entry point for hosts.

    Most hosts use :meth:`in_memory` (tests, notebooks) or, once storage lands,
    an embedded SQLite file. Act for a user with :meth:`as_user`; drive time
    with :meth:`tick` (or :meth:`run_until` on a settable clock).

    Args:
        store: Where campaigns, surfaces and access assignments live.
        clock: The only source of the current time.
        audiences: The host's audience source; ``kit.audiences.define`` adds static ones.
        profiles: Where recipient profiles are kept (default: in memory).
        policy: The permission policy (default: :class:`ProfilePolicy` on ``access``).
        profile_permissions: A custom profile -> permissions mapping for the default policy.
        rules: Lifecycle periods (3-day completion, 30-day archive retention).
        ids: Makes ids; pass ``campaignkit.testing.SequentialIds()`` for stable ids.
    """

    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        audiences: AudienceSource | None = None,
        profiles: ProfileStore | None = None,
        policy: PermissionPolicy | None = None,
        profile_permissions: Mapping[ProductProfile, frozenset[Permission]] | None = None,
        rules: LifecycleRules | None = None,
        ids: IdFactory = random_ids,
    ) -> None:
        self.store = store
        self.clock = clock
        self.audiences = AudienceRegistry(audiences)
        self.profiles: ProfileStore = profiles if profiles is not None else InMemoryProfileStore()
        self.access = AccessDirectory(store, clock)
        self.policy: PermissionPolicy = (
            policy if policy is not None else ProfilePolicy(self.access, profile_permissions)
        )
        self.rules = rules if rules is not None else LifecycleRules()
        self.ids = ids
        self._listeners: list[Listener] = []
        self._listeners_lock = threading.Lock()
        self.preflight = Preflight(self.audiences, check_template)
        self.engine = LifecycleEngine(store, clock, self.rules, self.preflight, self.publish)

    @classmethod
    def in_memory(
        cls,
        clock: Clock | None = None,
        *,
        policy: PermissionPolicy | None = None,
        profile_permissions: Mapping[ProductProfile, frozenset[Permission]] | None = None,
        rules: LifecycleRules | None = None,
        ids: IdFactory = random_ids,
    ) -> CampaignKit:
        """A kit whose store, audiences and profiles all live in memory.

        Args:
            clock: Defaults to the wall clock; tests pass a ``ManualClock``.
            policy: A custom permission policy.
            profile_permissions: A custom mapping for the default profile policy.
            rules: Lifecycle periods.
            ids: Id factory.
        """
        return cls(
            store=InMemoryStore(),
            clock=clock if clock is not None else SystemClock(),
            profiles=InMemoryProfileStore(),
            policy=policy,
            profile_permissions=profile_permissions,
            rules=rules,
            ids=ids,
        )

    @classmethod
    def sqlite(
        cls,
        path: str | os.PathLike[str],
        clock: Clock | None = None,
        *,
        policy: PermissionPolicy | None = None,
        profile_permissions: Mapping[ProductProfile, frozenset[Permission]] | None = None,
        rules: LifecycleRules | None = None,
        ids: IdFactory = random_ids,
        busy_timeout: float = 10.0,
    ) -> CampaignKit:
        """The embedded default: everything in one SQLite file.

        Reopening a kit on the same file finds every campaign, version,
        history entry, surface, approval policy and access assignment again.
        Close it with :meth:`close` (or use it as a context manager).

        Args:
            path: The database file (created if missing), or ``":memory:"``.
            clock: Defaults to the wall clock; tests pass a ``ManualClock``.
            policy: A custom permission policy.
            profile_permissions: A custom mapping for the default profile policy.
            rules: Lifecycle periods.
            ids: Id factory.
            busy_timeout: Seconds to wait for another process's write lock.

        Raises:
            StorageError: the file is not a campaignkit store, or is corrupt.
        """
        return cls(
            store=SQLiteStore(path, busy_timeout=busy_timeout),
            clock=clock if clock is not None else SystemClock(),
            policy=policy,
            profile_permissions=profile_permissions,
            rules=rules,
            ids=ids,
        )

    def close(self) -> None:
        """Release the store's resources (closes a SQLite connection)."""
        close = getattr(self.store, "close", None)
        if callable(close):
            close()

    def __enter__(self) -> CampaignKit:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def as_user(self, user_id: str) -> UserSession:
        """Act as ``user_id``: every verb of the session checks the policy first."""
        return UserSession(self, user_id)

    def tick(self) -> TickReport:
        """Run every piece of work due at the clock's current instant."""
        return self.engine.tick()

    def run_until(self, when: pendulum.DateTime) -> TickReport:
        """Fast-forward a settable clock to ``when``, ticking at every due instant."""
        return self.engine.run_until(when)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every domain event after it is committed.

        Returns:
            A function that unsubscribes the listener.
        """
        with self._listeners_lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._listeners_lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def publish(self, events: Sequence[DomainEvent]) -> None:
        """Deliver committed events to the subscribers.

        A listener that raises is logged and skipped: the change is committed
        already and the other listeners still hear about it.
        """
        with self._listeners_lock:
            listeners = list(self._listeners)
        for event in events:
            for listener in listeners:
                try:
                    listener(event)
                except Exception:
                    logger.exception("campaignkit event listener %r failed on %r", listener, event)

    def __repr__(self) -> str:
        return f"CampaignKit(store={self.store!r}, clock={self.clock!r})"
