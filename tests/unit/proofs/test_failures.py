"""Failures while proofing: a concurrent change is a conflict, an unwired channel refuses the
proof, and a channel answering the wrong count is a delivery error after recording."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import attrs
import pytest

import campaignkit as ck
from campaignkit.domain.proofs import (
    proof_messages,
)
from campaignkit.testing import RecordingChannel
from tests.unit.proofs.support import C, Envs

# ---------------------------------------------------------------- failures


class _Meddling:
    """A profile store that writes the campaign while a proof is being prepared."""

    def __init__(self, inner: ck.ProfileStore) -> None:
        self.inner = inner
        self.meddle: Callable[[], None] | None = None

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)

    def get_many(self, profile_ids: Sequence[str]) -> Mapping[str, ck.Profile]:
        if self.meddle is not None:
            meddle, self.meddle = self.meddle, None
            meddle()
        return self.inner.get_many(profile_ids)


def test_a_concurrent_change_is_a_conflict_and_nothing_is_sent(envs: Envs) -> None:
    stores: list[_Meddling] = []

    def wrap(inner: ck.ProfileStore) -> ck.ProfileStore:
        stores.append(_Meddling(inner))
        return stores[-1]  # type: ignore[return-value]

    env = envs(wrap=wrap)
    campaign_id = env.draft()

    def rename() -> None:
        with env.kit.store.unit_of_work() as uow:
            current = uow.campaigns.find(campaign_id)
            assert current is not None
            uow.campaigns.save(attrs.evolve(current, name="Renamed meanwhile"))

    stores[0].meddle = rename
    before = env.admin.get(campaign_id)
    with pytest.raises(ck.ConflictError):
        env.admin.send_proof(campaign_id, ["t1"])
    assert env.sent() == 0
    assert env.admin.get(campaign_id) == before  # the rename rolled back with the proof
    assert env.admin.send_proof(campaign_id, ["t1"])[0].sent  # a retry goes through


def test_a_channel_that_is_not_wired_refuses_the_proof(envs: Envs) -> None:
    env = envs(channels={C.EMAIL: RecordingChannel("email")})
    campaign_id = env.draft(sms=True)
    with pytest.raises(ck.DeliveryError, match="no channel is wired for sms"):
        env.admin.send_proof(campaign_id, ["t1"])
    assert env.channel(C.EMAIL).sent == []
    assert env.proofs(campaign_id) == []


class _Mute(RecordingChannel):
    def send(self, messages: Sequence[ck.Message]) -> Sequence[ck.SendResult]:
        super().send(messages)
        return []


def test_a_channel_answering_the_wrong_count_is_a_delivery_error_after_recording(
    envs: Envs,
) -> None:
    """The proof was recorded before the hand-over, so it counts toward the cap."""
    env = envs(channels={C.EMAIL: _Mute("email")})
    campaign_id = env.draft()
    with pytest.raises(ck.DeliveryError, match="answered 0 results for 1 proof messages"):
        env.admin.send_proof(campaign_id, ["t1"])
    assert len(env.channel(C.EMAIL).sent) == 1
    [entry] = env.proofs(campaign_id)
    assert proof_messages(entry) == 1
