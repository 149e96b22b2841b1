"""A trigger's payload for its fingerprint is built by hand, with ``asdict``'s hash.

The fingerprint decides idempotency (a repeated request id with another
payload is a ``ConflictError``), so a stored hash must stay what
``attrs.asdict`` gave (issue 12).
"""

from __future__ import annotations

import attrs
import pytest

import campaignkit as ck
from campaignkit.domain.triggers import Recipient, fingerprint
from campaignkit.session.triggers import _recipient_payload

RECIPIENTS = [
    Recipient(user_id="ann@example.com", namespace="email"),
    Recipient(user_id="ann", namespace="crm", context={"link": "https://x/é", "n": 1.5}),
    Recipient(
        user_id="+33600000000",
        namespace="phone",
        channel_data={ck.ChannelType.SMS: "+33600000000", "email": "a@b.c"},
        profile={"name": "Ann", "tags": ["a", "b"], "nested": {"deep": [1, {"x": None}]}},
        context={"items": ({"sku": "1"}, {"sku": "2"}), "flag": True},
        external=True,
    ),
    Recipient(user_id="bob", namespace="email", channel_data={}, profile={}, context={}),
]


@pytest.mark.parametrize("recipient", RECIPIENTS)
def test_the_payload_hashes_as_asdict(recipient: Recipient) -> None:
    by_hand = {"kind": "unitary", "recipients": [_recipient_payload(recipient)]}
    generic = {"kind": "unitary", "recipients": [attrs.asdict(recipient)]}
    assert fingerprint(by_hand) == fingerprint(generic)


def test_the_payload_names_every_field() -> None:
    payload = _recipient_payload(RECIPIENTS[0])
    assert list(payload) == [field.name for field in attrs.fields(Recipient)]


def test_a_subclass_takes_asdict() -> None:
    @attrs.frozen
    class Tagged(Recipient):
        tag: str = "t"

    tagged = Tagged(user_id="ann", namespace="email")
    assert _recipient_payload(tagged) == attrs.asdict(tagged)
