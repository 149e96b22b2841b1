"""Contract suites: the behaviour every adapter of a port must have.

Subclass a contract in your own test suite and provide the fixture it needs;
pytest then runs every contract test against your adapter::

    import pytest
    from campaignkit.testing.contracts import StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self) -> MyStore:
            return MyStore(...)

Every port has its suite: :class:`StoreContract` (``store``),
:class:`ProfileStoreContract` (``profiles``), :class:`AudienceSourceContract`
(``audience_source`` plus a ``define`` hook) and :class:`ChannelContract`
(``channel``; :func:`make_message` builds messages for your own tests), and
:class:`ShardStoreContract` (``store``) for stores that split runs into
shards (the optional ``ShardRepository``).

The classes are deliberately not named ``Test*`` so pytest collects them only
through your subclasses. This package needs pytest.

The suites are split by concern: :mod:`.store` composes
:class:`StoreContract` from mixins in :mod:`.store_campaigns`,
:mod:`.store_policies`, :mod:`.store_runs`, :mod:`.store_records` and
:mod:`.store_copying` (what copying a store reads and writes);
:mod:`.profiles`, :mod:`.audiences`, :mod:`.channels` and :mod:`.shards` hold
the other ports' suites.
"""

from __future__ import annotations

from campaignkit.testing.contracts._support import make_message
from campaignkit.testing.contracts.audiences import AudienceSourceContract
from campaignkit.testing.contracts.channels import ChannelContract, LookupChannelContract
from campaignkit.testing.contracts.profiles import ProfileStoreContract
from campaignkit.testing.contracts.shards import ShardStoreContract
from campaignkit.testing.contracts.store import StoreContract

__all__ = [
    "AudienceSourceContract",
    "ChannelContract",
    "LookupChannelContract",
    "ProfileStoreContract",
    "ShardStoreContract",
    "StoreContract",
    "make_message",
]
