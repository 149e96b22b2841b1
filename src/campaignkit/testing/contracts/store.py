"""Contract of the :class:`~campaignkit.ports.Store` port, composed by concern."""

from __future__ import annotations

from campaignkit.testing.contracts.store_campaigns import CampaignStoreContract
from campaignkit.testing.contracts.store_copying import CopyingStoreContract
from campaignkit.testing.contracts.store_ledger_rows import LedgerRowsContract
from campaignkit.testing.contracts.store_policies import PolicyStoreContract
from campaignkit.testing.contracts.store_records import RecordStoreContract
from campaignkit.testing.contracts.store_runs import RunStoreContract

__all__ = ["StoreContract"]


class StoreContract(
    CampaignStoreContract,
    PolicyStoreContract,
    RunStoreContract,
    LedgerRowsContract,
    RecordStoreContract,
    CopyingStoreContract,
):
    """Contract of the :class:`~campaignkit.ports.Store` port.

    Provide a ``store`` fixture returning a new, empty store.
    """
