"""The SQLite ledger's message text reads back the message it was written from."""

from __future__ import annotations

import json

import pendulum
import pytest
from hypothesis import given
from hypothesis import strategies as st

import campaignkit as ck
from campaignkit.adapters.sqlite import SQLiteStore, ledger, ledger_codec
from campaignkit.adapters.sqlite.connection import to_us
from campaignkit.adapters.sqlite.ledger_codec import (
    decode_message,
    encode_message,
    settings_from_text,
    settings_text,
)
from campaignkit.domain.delivery import pending_entry, settled_entry
from campaignkit.domain.surface import SurfaceSettings
from campaignkit.testing.contracts._support import make_message
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
    text = encode_message(message, own)
    assert decode_message(text, own) == message
    key = message.idempotency_key
    derived = f"{message.run_id}:{message.action_id}:{message.profile_id}"
    flags = int(message.proof) + 2 * int(message.transactional)
    items = [dict(message.fields), flags, message.unsubscribe_url]
    # the hand-made array of the hot path is the JSON the general encoder writes
    assert text.partition("\n")[2] == json.dumps(
        items if key == derived else [*items, key], separators=(",", ":")
    )


@pytest.mark.parametrize(
    "text",
    ["nope", '{"kind":"fax"}\n[{},0,null]', '{"kind":"sms","sender_id":"X"}\n[1]', "{}\n[]"],
)
def test_a_bad_text_is_a_storage_error(text: str) -> None:
    with pytest.raises(ck.StorageError, match="stored message"):
        decode_message(text, ("r", "c", "a", "p", "email", None))


def test_only_surface_settings_have_a_text() -> None:
    with pytest.raises(TypeError, match="surface settings"):
        settings_text(object())  # type: ignore[arg-type]


def test_the_caches_stay_bounded_and_correct() -> None:
    many = [ck.SmsSettings(sender_id=f"S{i}") for i in range(300)]
    for settings in many:
        assert settings_from_text(settings_text(settings)) == settings
    assert len(ledger_codec._text_of_settings) <= 256
    assert len(ledger_codec._settings_of_text) <= 256
    row = ("r", "a", "p", "c", "email", "queued", None, 0, 0, None, None, None, None, None, None)
    for us in range(0, 5000 * 1_000_000, 1_000_000):
        entry = ledger.entry_of((*row[:8], us, *row[9:], None))
        assert entry.next_attempt_at is not None
        assert to_us(entry.next_attempt_at) == us
    assert len(ledger._instants) <= 4096


def test_a_message_without_an_address_is_built_through_its_constructor() -> None:
    basis = ("r", "c", "a", "p", "sms", None)
    message = decode_message('{"kind":"sms","sender_id":"X"}\n[{"text":"hi"},2,null]', basis)
    address: object = message.address  # a stored message may lack one: no check is bypassed
    assert address is None
    assert message.transactional
    assert message.idempotency_key == "r:a:p"


def _store_with_pending() -> SQLiteStore:
    store = SQLiteStore(":memory:")
    with store.unit_of_work() as uow:
        uow.ledger.add_pending([(make_message(pid), None, None) for pid in ("p1", "p2")])
    return store


def test_add_pending_refuses_a_key_already_recorded() -> None:
    store = _store_with_pending()
    with pytest.raises(ck.ConflictError, match="recorded already"), store.unit_of_work() as uow:
        uow.ledger.add_pending([(make_message("p2"), None, None)])
    store.close()


def test_a_settle_that_fails_midway_writes_nothing_of_the_call() -> None:
    with _store_with_pending() as store:
        sent = ("act_email", "p1", ck.LedgerState.SENT, 1, "pm-1", None, None)
        bad = ("act_email", "p2", ck.LedgerState.SENT, object(), "pm-2", None, None)
        with store.unit_of_work() as uow:
            with pytest.raises(ck.StorageError):
                uow.ledger.settle("run_1", [sent, bad])  # type: ignore[list-item]
            # the unit goes on: the first row of the failed call was undone too
            assert {e.state for e in uow.ledger.entries("run_1")} == {ck.LedgerState.PENDING}
            uow.ledger.settle("run_1", [sent])
        with store.unit_of_work() as uow:
            assert uow.ledger.by_provider_id("pm-1") is not None


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"subject": "Hi Zoë", "html": '<p>"x"\n</p>'},
        {"n": 5},
        {"x": None, "y": ["a"]},
        {"text": "😀 \\ \u2028"},
        {"a": "1", "b": 2},
        {"title": "t", "body": "b", "data": "d"},
    ],
)
def test_fields_text_is_the_json_encoders(fields: dict[str, object]) -> None:
    text = ledger_codec._fields_json(fields)  # type: ignore[arg-type]
    assert text == json.dumps(fields, separators=(",", ":"))
    assert json.loads(text) == fields


def test_rows_of_every_shape_are_written_and_settled_as_full_entries() -> None:
    """Due time and zone present or not (a NULL literal each), outcomes final or not."""
    due = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
    rows = [
        (make_message("p0", action_id="a"), None, None),
        (make_message("p1", action_id="a"), None, "Europe/Paris"),
        (make_message("p2", action_id="a"), due, None),
        (make_message("p3", action_id="a"), due, "+05:30"),
    ]
    retry_at = due.add(minutes=5)
    outcomes = [
        ("a", "p0", ck.LedgerState.SENT, 1, "pm-0", None, None),
        ("a", "p1", ck.LedgerState.RETRY, 1, None, "busy", retry_at),
        ("a", "p2", ck.LedgerState.FAILED, 1, None, "refused", None),
        ("a", "p3", ck.LedgerState.SENT, 2, "pm-3", None, None),
    ]
    with SQLiteStore(":memory:") as store, store.unit_of_work() as uow:
        uow.ledger.add_pending(rows)
        assert list(uow.ledger.entries("run_1")) == [pending_entry(row) for row in rows]
        uow.ledger.settle("run_1", outcomes)
        expected = [
            settled_entry(pending_entry(row), outcome)
            for row, outcome in zip(rows, outcomes, strict=True)
        ]
        assert list(uow.ledger.entries("run_1")) == expected
