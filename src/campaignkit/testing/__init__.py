"""Test doubles and helpers shipped for hosts' own test suites.

``ManualClock`` (time moves only when told), ``SequentialIds`` (stable ids),
channel doubles (``RecordingChannel``, ``ReconcilingRecordingChannel``,
``CallbackChannel``, ``NullChannel``).
Contract suites for adapters live in :mod:`campaignkit.testing.contracts`
(it needs pytest).
"""

from campaignkit.testing.channels import (
    CallbackChannel,
    NullChannel,
    ReconcilingRecordingChannel,
    RecordingChannel,
)
from campaignkit.testing.clock import ManualClock
from campaignkit.testing.ids import SequentialIds

__all__ = [
    "CallbackChannel",
    "ManualClock",
    "NullChannel",
    "ReconcilingRecordingChannel",
    "RecordingChannel",
    "SequentialIds",
]
