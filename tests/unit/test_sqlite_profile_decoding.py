"""Direct profile decoding on SQLite (issue 12): exactly what ``loads(Profile, ...)`` gives.

``decode_profile`` builds the common document without cattrs; every other
document goes through the generic path, so for any text the outcome (the
profile, or the ``StorageError`` and its message) is the same. Static
audiences on a SQLite kit stream with one joined query per batch.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from types import MappingProxyType
from typing import Any, cast

import attrs
import pendulum
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import campaignkit as ck
from campaignkit import serialization as ser
from campaignkit.adapters.sqlite.profiles import decode_profile
from campaignkit.domain.profile import PROFILE_FIELDS, decoded_profile, plain_decoded_profile
from campaignkit.domain.recipients import unknown_profile
from campaignkit.testing import ManualClock
from campaignkit.testing import strategies as cks

T0 = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
PROPERTY = settings(max_examples=200, deadline=None)


def _outcome(load: Any, text: str) -> object:
    """The profile ``load`` returns, or the class and message of what it raises."""
    try:
        return load(text)
    except ck.StorageError as exc:
        return ("StorageError", str(exc))


def _generic(text: str) -> ck.Profile:
    return ser.loads(ck.Profile, text)


def _assert_same_as_generic(text: str) -> None:
    fast, generic = _outcome(decode_profile, text), _outcome(_generic, text)
    assert fast == generic
    if isinstance(fast, ck.Profile):
        assert type(fast) is ck.Profile
        assert isinstance(generic, ck.Profile)
        for name in PROFILE_FIELDS:
            assert type(getattr(fast, name)) is type(getattr(generic, name)), name
        for mapping in (fast.consents, fast.channel_data):
            assert all(type(key) is ck.ChannelType for key in mapping)  # not "email"


def _wide_profiles() -> st.SearchStrategy[ck.Profile]:
    """Profiles beyond the plain ASCII ones: any text, so the full checks run too."""

    def build(**fields: Any) -> ck.Profile:
        try:
            return ck.Profile(**fields)
        except ck.ValidationError:
            assume(False)
            raise

    return st.builds(
        build,
        id=st.text(min_size=1, max_size=20),
        identities=st.dictionaries(st.text(min_size=1, max_size=8), st.text(max_size=20)),
        attributes=st.dictionaries(st.text(max_size=8), cks.json_values(max_leaves=6), max_size=3),
        consents=st.dictionaries(st.sampled_from(ck.ChannelType), st.booleans()),
        channel_data=st.dictionaries(st.sampled_from(ck.ChannelType), st.text(max_size=20)),
        timezone=st.none() | st.text(max_size=12),
        language=st.none() | st.text(max_size=6),
        test=st.booleans(),
    )


@PROPERTY
@given(cks.profiles())
def test_the_fast_decoder_equals_the_generic_loader(profile: ck.Profile) -> None:
    text = ser.dumps(profile)
    assert decode_profile(text) == ser.loads(ck.Profile, text) == profile
    _assert_same_as_generic(text)


@PROPERTY
@given(_wide_profiles())
def test_the_fast_decoder_equals_the_generic_loader_for_any_text(profile: ck.Profile) -> None:
    text = ser.dumps(profile)
    assert decode_profile(text) == profile
    _assert_same_as_generic(text)


_FIELD_VALUES = st.one_of(
    cks.json_values(max_leaves=4),
    st.sampled_from(["email", "sms", "fax", "", " ", "X" * 300, 1, 0, 2.0, True]),
    st.dictionaries(st.sampled_from(["email", "sms", "fax", "ecid"]), cks.json_values(3)),
)


@PROPERTY
@given(cks.profiles(), st.sampled_from(PROFILE_FIELDS), _FIELD_VALUES)
def test_a_changed_field_gives_the_generic_outcome(
    profile: ck.Profile, field: str, value: object
) -> None:
    """A stored document edited by hand or by an older campaignkit: same profile or same error."""
    document = json.loads(ser.dumps(profile))
    document["data"][field] = value
    _assert_same_as_generic(json.dumps(document))


@PROPERTY
@given(
    cks.profiles(),
    st.sampled_from(["drop", "extra", "v1", "v1-no-test", "v3", "v2.0", "schema", "envelope"]),
)
def test_other_shapes_give_the_generic_outcome(profile: ck.Profile, change: str) -> None:
    document: Any = json.loads(ser.dumps(profile))
    data = document["data"]
    if change == "drop":
        del data["language"]
    elif change == "extra":
        data["nickname"] = "x"
    elif change.startswith("v1"):
        document["version"] = 1
        if change == "v1-no-test":
            del data["test"]
    elif change == "v3":
        document["version"] = 3
    elif change == "v2.0":
        document["version"] = 2.0
    elif change == "schema":
        document["schema"] = "campaign"
    else:
        document = {**document, "extra": 1}
    _assert_same_as_generic(json.dumps(document))


@pytest.mark.parametrize(
    "profile",
    [
        ck.Profile(
            id="plain", identities={"email": "a@x.io"}, consents={ck.ChannelType.EMAIL: True}
        ),
        ck.Profile(
            id="José",
            identities={"email": "josé@x.io"},
            attributes={"firstName": "José", "tags": ["ü"], "address": {"city": "Zürich"}},
            channel_data={ck.ChannelType.SMS: "+41 79 000 00 00"},
            timezone="Europe/Zurich",
            language="de-CH",
            test=True,
        ),
    ],
)
def test_current_documents_never_reach_the_generic_loader(
    profile: ck.Profile, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Plain ASCII or not, a document ``dumps`` wrote is decoded directly."""

    def generic(*_: object) -> ck.Profile:
        raise AssertionError("the generic loader was used")

    monkeypatch.setattr("campaignkit.adapters.sqlite.profiles.from_document", generic)
    assert decode_profile(ser.dumps(profile)) == profile


@pytest.mark.parametrize("text", ["", "{", "[]", "null", '"profile"', "{}", '{"a": 1} x'])
def test_text_that_is_no_document_fails_as_loads_does(text: str) -> None:
    _assert_same_as_generic(text)


def test_decoded_profile_sets_every_field_of_profile() -> None:
    assert tuple(f.name for f in attrs.fields(ck.Profile)) == PROFILE_FIELDS


def test_decoded_profile_equals_the_constructor_and_freezes_what_it_is_given() -> None:
    identities = {"email": "a@x.io"}
    made = decoded_profile(
        id="a",
        identities=identities,
        attributes={},
        consents={"email": True},
        channel_data={"push": "tok"},
        timezone="Europe/Paris",
        language="fr",
        test=False,
    )
    assert made == ck.Profile(
        id="a",
        identities={"email": "a@x.io"},
        consents={ck.ChannelType.EMAIL: True},
        channel_data={ck.ChannelType.PUSH: "tok"},
        timezone="Europe/Paris",
        language="fr",
    )
    assert type(made.identities) is MappingProxyType
    assert type(made.attributes) is MappingProxyType
    with pytest.raises(TypeError):
        made.identities["email"] = "b@x.io"  # type: ignore[index]


def test_decoded_profile_refuses_what_the_constructor_refuses_naming_the_fields() -> None:
    fields: dict[str, Any] = {
        "id": "a",
        "identities": {"email": 5},
        "attributes": {},
        "consents": {"fax": True},
        "channel_data": {},
        "timezone": "X" * 300,
        "language": None,
        "test": 1,
    }
    fresh: dict[str, Any] = {k: dict(v) if isinstance(v, dict) else v for k, v in fields.items()}
    with pytest.raises(ck.ValidationError) as fast:
        decoded_profile(**fresh)
    with pytest.raises(ck.ValidationError) as slow:
        ck.Profile(**fields)
    assert fast.value.problems == slow.value.problems
    assert any(p.startswith("identities[") for p in fast.value.problems)
    assert any(p.startswith("consents has the key str 'fax'") for p in fast.value.problems)
    assert any(p.startswith("timezone") for p in fast.value.problems)
    assert any(p.startswith("test must be True or False") for p in fast.value.problems)


_PLAIN: dict[str, Any] = {
    "id": "p1",
    "identities": {"email": "a@x.io"},
    "attributes": {"firstName": "Ann", "tags": ["a", 1, 2.5, None, True]},
    "consents": {"email": True, "sms": False},
    "channel_data": {"sms": "+1 555"},
    "timezone": "Europe/Paris",
    "language": "fr",
    "test": False,
}


def _fresh(data: dict[str, Any]) -> dict[str, Any]:
    return cast("dict[str, Any]", json.loads(json.dumps(data)))


def test_the_plain_path_builds_what_the_constructor_builds() -> None:
    made = plain_decoded_profile(_fresh(_PLAIN))
    assert made == ck.Profile(**_fresh(_PLAIN))
    assert made is not None
    assert all(type(key) is ck.ChannelType for key in (*made.consents, *made.channel_data))
    empty = plain_decoded_profile(_fresh({**_PLAIN, "consents": {}, "channel_data": {}}))
    assert empty is not None
    assert empty.consents == {}
    assert empty.channel_data == {}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", " "),
        ("id", "é"),
        ("id", 5),
        ("test", 0),
        ("identities", []),
        ("identities", {f"ns{i}": "v" for i in range(51)}),
        ("identities", {"email": "é@x.io"}),
        ("identities", {" ": "a@x.io"}),
        ("identities", {"email": 5}),
        ("attributes", []),
        ("attributes", {"name": "Zoë"}),
        ("attributes", {"name": "Ada", "Zoë": "x"}),
        ("attributes", {"n": 1, "name": "Zoë"}),
        ("attributes", {"big": "x" * (200 * 1024)}),
        ("consents", {"fax": True}),
        ("consents", {"email": 1}),
        ("consents", {"email": 0.0}),
        ("consents", {"email": [True]}),
        ("consents", {"email": None}),
        ("consents", {"email": True, "fax": False}),
        ("channel_data", {"fax": "x"}),
        ("channel_data", {"sms": ""}),
        ("channel_data", {"sms": "x" * 1025}),
        ("timezone", "Europe/Zürich"),
        ("timezone", 5),
        ("language", "é"),
        ("language", ""),
    ],
)
def test_the_plain_path_leaves_every_other_value_to_the_full_checks(
    field: str, value: object
) -> None:
    data = _fresh({**_PLAIN, field: value})
    assert plain_decoded_profile(_fresh(data)) is None
    _assert_same_as_generic(json.dumps({"schema": "profile", "version": 2, "data": data}))


@pytest.mark.parametrize(
    "attributes",
    [
        {"firstName": "Ada", "tier": ""},
        {"n": 1, "x": [1, "a"], "m": {"k": None}, "f": 1.5, "b": True},
        {"name": "Ada", "n": 2},
    ],
)
def test_plain_attributes_of_text_or_json_values_build_the_profile(
    attributes: dict[str, Any],
) -> None:
    data = _fresh({**_PLAIN, "attributes": attributes})
    made = plain_decoded_profile(_fresh(data))
    assert made is not None
    assert made == ck.Profile(**_fresh(data))


def test_the_plain_path_needs_exactly_the_eight_fields() -> None:
    assert plain_decoded_profile({**_fresh(_PLAIN), "nickname": "x"}) is None
    renamed = _fresh(_PLAIN)
    renamed["nick"] = renamed.pop("language")
    assert plain_decoded_profile(renamed) is None


def test_a_document_with_blank_around_it_decodes_as_loads_does() -> None:
    text = ser.dumps(ck.Profile(id="a"))
    assert decode_profile(f" {text}\n") == decode_profile(text) == ck.Profile(id="a")


# ---------------------------------------------------------------- static audiences on SQLite


def _kit(tmp_path: Path) -> ck.CampaignKit:
    kit = ck.CampaignKit.sqlite(tmp_path / "kit.db", clock=ManualClock(T0))
    cast("ck.SQLiteProfileStore", kit.profiles).upsert_many(
        [ck.Profile(id=f"p{i}", identities={"email": f"p{i}@x.io"}) for i in range(5)]
    )
    return kit


def test_a_static_audience_streams_one_joined_query_per_batch(tmp_path: Path) -> None:
    kit = _kit(tmp_path)
    try:
        kit.audiences.define("list", ["p3", "ghost", "p0", "p3", "p1"])
        statements: list[str] = []
        connection = cast("ck.SQLiteStore", kit.store).database.connection
        connection.set_trace_callback(statements.append)
        batches = list(kit.audiences.members("list", namespace="email", batch_size=2))
        connection.set_trace_callback(None)
        assert [[p.id for p in batch] for batch in batches] == [
            ["p3", "ghost"],
            ["p0", "p3"],
            ["p1"],
        ]
        assert batches[0][1] == unknown_profile("ghost")
        assert type(batches[0][1]) is type(unknown_profile("ghost"))
        assert batches[1][0] == kit.profiles.get("p0")
        selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
        member_reads = [s for s in selects if "audience_members" in s]
        assert len(member_reads) == 4  # three batches and the empty read that ends them
        assert all("JOIN profiles" in s for s in member_reads)
        assert not [s for s in selects if "FROM profiles WHERE id IN" in s]
    finally:
        kit.close()


def test_a_stored_profile_that_no_longer_loads_streams_as_unknown_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    kit = _kit(tmp_path)
    kit.audiences.define("list", ["p0", "old", "p1", "swapped"])
    kit.close()
    legacy = json.loads(ser.dumps(ck.Profile(id="old")))
    legacy["data"]["timezone"] = "X" * 300
    with sqlite3.connect(tmp_path / "kit.db") as db:
        db.execute("INSERT INTO profiles (id, document) VALUES ('old', ?)", (json.dumps(legacy),))
        # a row edited by hand to hold another profile's document: unknown, as get_many says
        db.execute(
            "INSERT INTO profiles (id, document) VALUES ('swapped', ?)",
            (ser.dumps(ck.Profile(id="p4")),),
        )
    db.close()
    kit = ck.CampaignKit.sqlite(tmp_path / "kit.db", clock=ManualClock(T0))
    try:
        with caplog.at_level(logging.WARNING, logger="campaignkit.profiles"):
            [batch] = list(kit.audiences.members("list", namespace="email", batch_size=10))
        assert [p.id for p in batch] == ["p0", "old", "p1", "swapped"]
        assert batch[1] == unknown_profile("old")
        assert batch[3] == unknown_profile("swapped")
        assert kit.profiles.get("swapped") is None
        assert "stored profile 'old' cannot be loaded and is skipped" in caplog.text
    finally:
        kit.close()


def test_profiles_in_another_store_are_looked_up_by_id(tmp_path: Path) -> None:
    """A SQLite campaign store with an in-memory profile store: ids, then a lookup."""
    store = ck.SQLiteStore(tmp_path / "kit.db")
    profiles = ck.InMemoryProfileStore()
    profiles.upsert(ck.Profile(id="p0", identities={"email": "p0@x.io"}))
    kit = ck.CampaignKit(store=store, clock=ManualClock(T0), profiles=profiles)
    try:
        kit.audiences.define("list", ["p0", "ghost"])
        [batch] = list(kit.audiences.members("list", namespace="email", batch_size=10))
        assert batch == [profiles.get("p0"), unknown_profile("ghost")]
    finally:
        kit.close()


def test_streamed_members_are_what_decode_profile_gives_for_every_kind_of_row(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The stream's inlined common case and its fallback to decode_profile agree with it."""
    plain = ck.Profile(
        id="plain", identities={"email": "a@x.io"}, consents={ck.ChannelType.EMAIL: True}
    )
    wide = ck.Profile(id="wide", identities={"email": "é@x.io"}, attributes={"n": [1, {"k": None}]})
    text = ser.dumps(ck.Profile(id="blank"))
    extra = json.loads(ser.dumps(ck.Profile(id="extra")))
    extra["note"] = 1  # a fourth top-level field: the generic loader decides
    other_version = json.loads(ser.dumps(ck.Profile(id="v1")))
    other_version["version"] = 2.0  # a number equal to the version, not an int
    no_data = {"schema": "profile", "version": 2, "data": []}
    rows = {
        "plain": ser.dumps(plain),
        "wide": ser.dumps(wide),
        "blank": f" {text}\n",
        "extra": json.dumps(extra),
        "v1": json.dumps(other_version),
        "nodata": json.dumps(no_data),
        "broken": text[:-1],
        "array": "[1, 2]",
    }
    kit = _kit(tmp_path)
    kit.audiences.define("list", list(rows))
    kit.close()
    with sqlite3.connect(tmp_path / "kit.db") as db:
        db.executemany(
            "INSERT OR REPLACE INTO profiles (id, document) VALUES (?, ?)", list(rows.items())
        )
    db.close()
    expected = []
    for profile_id, document in rows.items():
        try:
            found = decode_profile(document)
        except ck.StorageError:
            found = unknown_profile(profile_id)
        expected.append(found if found.id == profile_id else unknown_profile(profile_id))
    kit = ck.CampaignKit.sqlite(tmp_path / "kit.db", clock=ManualClock(T0))
    try:
        with caplog.at_level(logging.WARNING, logger="campaignkit.profiles"):
            [batch] = list(kit.audiences.members("list", namespace="email", batch_size=20))
        assert batch == expected
        assert [type(p) for p in batch] == [type(p) for p in expected]
        assert batch[:3] == [plain, wide, ck.Profile(id="blank")]
        assert batch[-2:] == [unknown_profile("broken"), unknown_profile("array")]
        assert "stored profile 'broken' cannot be loaded" in caplog.text
    finally:
        kit.close()


@pytest.mark.parametrize(
    "consents",
    [{"email": True}, {"sms": False}, {"email": True, "sms": False}, {"push": False, "sms": True}],
)
def test_consents_of_one_channel_are_a_shared_view_equal_to_the_constructors(
    consents: dict[str, bool],
) -> None:
    data = _fresh({**_PLAIN, "consents": consents})
    made, again = plain_decoded_profile(_fresh(data)), plain_decoded_profile(_fresh(data))
    assert made is not None
    assert again is not None
    expected = ck.Profile(**_fresh(data))
    assert made == expected
    assert list(made.consents.items()) == list(expected.consents.items())
    assert all(type(key) is ck.ChannelType for key in made.consents)
    assert type(made.consents) is MappingProxyType
    assert (made.consents is again.consents) == (len(consents) == 1)


def test_plain_namespaces_are_remembered_up_to_a_bound_and_refused_ones_never(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from campaignkit.domain import profile as profile_module

    seen: set[str] = set()
    monkeypatch.setattr(profile_module, "_PLAIN_NAMESPACES", seen)
    monkeypatch.setattr(profile_module, "_MAX_PLAIN_NAMESPACES", 2)
    for identities in ({"email": "a@x.io"}, {"email": "b@x.io", "crm": "7"}, {"pos": "1"}):
        data = _fresh({**_PLAIN, "identities": identities})
        for _ in range(2):  # the first check and the remembered one build the same profile
            made = plain_decoded_profile(_fresh(data))
            assert made is not None
            assert made == ck.Profile(**_fresh(data))
    assert seen == {"email", "crm"}  # "pos" was checked, not kept: the bound
    for bad in ({"é": "a"}, {" ": "a"}, {"": "a"}, {"n" * 257: "a"}, {"email": " "}):
        assert plain_decoded_profile(_fresh({**_PLAIN, "identities": bad})) is None
    assert seen == {"email", "crm"}


def _after_the_head() -> list[tuple[str, str]]:
    """Rows whose text starts as ``dumps`` writes the envelope, then goes astray."""
    data = ser.dumps(ck.Profile(id="h", identities={"email": "h@x.io"}))
    head, body = data[: data.index('"data":') + 7], data[data.index('"data":') + 7 : -1]
    return [
        ("h", data),  # the whole envelope: only the data is scanned
        ("h", head + body + "} "),  # blank after it
        ("h", head + body + "]"),  # not the envelope's closing brace
        ("h", head + body),  # cut short
        ("h", head + "[1]}"),  # data that is no object
        ("h", head + "x}"),  # data that is no JSON
        ("h", head + body[:-1] + ',"nickname":"x"}}'),  # data of another shape
        ("h", head + body.replace('"test":false', '"test":0') + "}"),  # a value to convert
        ("é", ser.dumps(ck.Profile(id="é"))),  # data the plain path leaves to the full checks
    ]


@pytest.mark.parametrize(("profile_id", "text"), _after_the_head())
def test_a_document_past_the_envelope_decodes_as_loads_does(
    profile_id: str, text: str, tmp_path: Path
) -> None:
    """Only a whole envelope around an object is decoded from its data; the rest as before."""
    _assert_same_as_generic(text)
    kit = _kit(tmp_path)
    kit.audiences.define("list", [profile_id])
    kit.close()
    with sqlite3.connect(tmp_path / "kit.db") as db:
        db.execute(
            "INSERT OR REPLACE INTO profiles (id, document) VALUES (?, ?)", (profile_id, text)
        )
    db.close()
    try:
        expected = decode_profile(text)
    except ck.StorageError:
        expected = unknown_profile(profile_id)
    kit = ck.CampaignKit.sqlite(tmp_path / "kit.db", clock=ManualClock(T0))
    try:
        [batch] = list(kit.audiences.members("list", namespace="email", batch_size=5))
        assert batch == [expected]
    finally:
        kit.close()
