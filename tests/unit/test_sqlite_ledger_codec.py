"""The SQLite ledger's message text reads back the message it was written from."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import campaignkit as ck
from campaignkit.adapters.sqlite.ledger import (
    decode_message,
    encode_message,
    settings_from_text,
    settings_text,
)
from campaignkit.domain.surface import SurfaceSettings
from campaignkit.testing.strategies import surface_settings

texts = st.text(max_size=20)
ids = st.text(min_size=1, max_size=8)
channels = st.sampled_from([c.value for c in ck.ChannelType])


@given(surface_settings())
def test_settings_text_round_trips(settings: SurfaceSettings) -> None:
    text = settings_text(settings)
    assert "\n" not in text
    assert settings_text(settings) is text  # cached per object
    assert settings_from_text(text) == settings


@given(
    st.builds(
        ck.Message,
        run_id=ids,
        campaign_id=ids,
        action_id=ids,
        profile_id=ids,
        channel=st.sampled_from(list(ck.ChannelType)),
        address=texts,
        idempotency_key=texts,
        fields=st.dictionaries(texts, texts, max_size=3),
        settings=surface_settings(),
        proof=st.booleans(),
        transactional=st.booleans(),
        unsubscribe_url=st.none() | texts,
    ),
    st.tuples(ids, ids, ids, ids, channels, st.none() | texts),
)
def test_a_message_round_trips_against_any_row(
    message: ck.Message, basis: tuple[str, str, str, str, str, str | None]
) -> None:
    assert decode_message(encode_message(message, basis), basis) == message
    own = (
        message.run_id,
        message.campaign_id,
        message.action_id,
        message.profile_id,
        message.channel.value,
        message.address,
    )
    assert decode_message(encode_message(message, own), own) == message


@pytest.mark.parametrize(
    "text",
    ["nope", '{"kind":"fax"}\n[{},0,null]', '{"kind":"sms","sender_id":"X"}\n[1]', "{}\n[]"],
)
def test_a_bad_text_is_a_storage_error(text: str) -> None:
    with pytest.raises(ck.StorageError, match="stored message"):
        decode_message(text, ("r", "c", "a", "p", "email", None))
