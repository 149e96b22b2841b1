"""Signed one-click unsubscribe tokens: signing, verifying, refusing, rendering, checking."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator

import pytest

import campaignkit as ck
from campaignkit.delivery.budget import MissingAttribute
from campaignkit.delivery.render import CompiledContent, compile_template, template_names
from campaignkit.domain.unsubscribe import (
    MAX_INPUT,
    MAX_TOKEN,
    MIN_SECRET_BYTES,
    SIGNATURE_BYTES,
    UnsubscribeLink,
    UnsubscribeSigner,
    UnsubscribeToken,
    secret_problems,
    token_of,
    unavailable,
    with_token,
)
from campaignkit.testing import ManualClock, SequentialIds
from tests.factories import T0

C = ck.ChannelType
SECRET = "a-host-secret-of-some-length"
TOKEN = UnsubscribeToken("p1", C.EMAIL, "cmp_1", "run_1", "act_1")
INVALID = "token is not a valid unsubscribe token"
BASE = "https://example.com/u"


@pytest.fixture
def signer() -> UnsubscribeSigner:
    return UnsubscribeSigner(SECRET)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# ---------------------------------------------------------------- format and round trip


def test_a_signed_token_is_versioned_url_safe_and_verifies(signer: UnsubscribeSigner) -> None:
    text = signer.sign(TOKEN)
    version, payload, signature = text.split(".")
    assert version == "u1"
    assert set(text) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert json.loads(base64.urlsafe_b64decode(payload + "==")) == [
        "p1",
        "email",
        "cmp_1",
        "run_1",
        "act_1",
        0,
    ]
    # an independent HMAC-SHA256 over "u1.<payload>" with the documented derived key
    key = hmac.new(SECRET.encode(), b"campaignkit/unsubscribe/v1", hashlib.sha256).digest()
    mac = hmac.new(key, f"u1.{payload}".encode(), hashlib.sha256).digest()
    assert signature == _b64(mac[:SIGNATURE_BYTES])
    assert len(base64.urlsafe_b64decode(signature + "==")) * 8 == 128
    assert signer.verify(text) == TOKEN
    assert signer.sign(TOKEN) == text  # deterministic: the same message, the same link


def test_every_field_round_trips_including_unusual_ids(signer: UnsubscribeSigner) -> None:
    odd = UnsubscribeToken('prófile "1"\n.?&=', C.EMAIL, "c" * 256, "proof-9", "a.b", True)
    assert signer.verify(signer.sign(odd)) == odd
    longest = UnsubscribeToken("\x01" * 256, C.PUSH, "\x02" * 256, "\x03" * 256, "\x04" * 256)
    text = signer.sign(longest)
    assert len(text) <= MAX_TOKEN
    assert signer.verify(with_token(BASE, text)) == longest


def test_the_url_gets_a_token_query_parameter(signer: UnsubscribeSigner) -> None:
    text = signer.sign(TOKEN)
    assert with_token(BASE, text) == f"{BASE}?token={text}"
    assert with_token(f"{BASE}?list=news", text) == f"{BASE}?list=news&token={text}"
    assert signer.url(f"{BASE}?list=news", TOKEN) == f"{BASE}?list=news&token={text}"
    for url in (f"{BASE}?token={text}", f"{BASE}?list=news&token={text}", f"  {text}  "):
        assert signer.verify(url) == TOKEN
    assert token_of(f"{BASE}?a=1&token={text}") == text


# ---------------------------------------------------------------- refusals


def _refused(signer: UnsubscribeSigner, given: object, why: str = "") -> str:
    with pytest.raises(ck.ValidationError) as caught:
        signer.verify(given)
    message = str(caught.value)
    assert why in message
    return message


def test_changing_any_character_of_any_part_is_refused(signer: UnsubscribeSigner) -> None:
    text = signer.sign(TOKEN)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for index, char in enumerate(text):
        if char == ".":
            continue
        for other in (
            alphabet[(alphabet.index(char) + 1) % 64],
            alphabet[alphabet.index(char) - 1],
        ):
            tampered = text[:index] + other + text[index + 1 :]
            assert INVALID in _refused(signer, tampered)


def test_a_payload_swapped_for_another_profile_is_refused(signer: UnsubscribeSigner) -> None:
    text = signer.sign(TOKEN)
    other = signer.sign(UnsubscribeToken("p2", C.EMAIL, "cmp_1", "run_1", "act_1"))
    forged = ".".join([*other.split(".")[:2], text.split(".")[2]])
    _refused(signer, forged, "its signature does not match")


def test_every_truncation_is_refused(signer: UnsubscribeSigner) -> None:
    text = signer.sign(TOKEN)
    for end in range(len(text)):
        assert INVALID in _refused(signer, text[:end])
    _refused(signer, text + "A", "signature does not match")
    _refused(signer, text + "AAAA", "signature does not match")


def test_a_token_signed_with_another_secret_is_refused(signer: UnsubscribeSigner) -> None:
    foreign = UnsubscribeSigner(SECRET + "!").sign(TOKEN)
    message = _refused(signer, foreign, "signed with another secret")
    assert "pass the unsubscribe URL or token exactly as the message carried it" in message
    assert UnsubscribeSigner(SECRET.encode()).verify(signer.sign(TOKEN)) == TOKEN


@pytest.mark.parametrize(
    ("garbage", "why"),
    [
        ("", "it is empty"),
        ("   ", "it is empty"),
        ("hello", "not of the form u1.<payload>.<signature>"),
        ("u1..", "not of the form"),
        ("u1.a.b.c", "not of the form"),
        ("u2.eyJ9.AAAAAAAAAAAAAAAAAAAAAA", "format version is unknown"),
        ("u1.!!!.AAAAAAAAAAAAAAAAAAAAAA", "signature does not match"),
        ("u1.é.AAAAAAAAAAAAAAAAAAAAAA", "signature does not match"),
        ("u1.eyJ9.A", "signature does not match"),
        ("u1.eyJ9.!!", "signature does not match"),
        (f"{BASE}?list=news", "does not carry exactly one token= parameter"),
        (f"{BASE}?token=a&token=b", "does not carry exactly one token= parameter"),
        (f"{BASE}/no-query", "does not carry exactly one token= parameter"),
        (BASE + "?" + "&".join(f"k{i}=v" for i in range(100)), "exactly one token="),
        (f"{BASE}?token=u1.x.y", "signature does not match"),
    ],
)
def test_garbage_is_refused_with_the_reason(
    signer: UnsubscribeSigner, garbage: str, why: str
) -> None:
    message = _refused(signer, garbage, why)
    assert INVALID in message


def test_huge_input_is_refused_fast_without_being_parsed(signer: UnsubscribeSigner) -> None:
    for huge in ("u1." + "A" * 1_000_000, f"{BASE}?token=" + "A" * 1_000_000):
        started = time.perf_counter()
        _refused(signer, huge, f"longer than {MAX_INPUT} characters")
        assert time.perf_counter() - started < 0.05
    _refused(signer, "u1." + "A" * MAX_TOKEN, f"longer than {MAX_TOKEN} characters")


@pytest.mark.parametrize("given", [None, 42, b"u1.a.b", ["u1"], {"token": "x"}])
def test_a_value_that_is_not_a_string_is_refused(signer: UnsubscribeSigner, given: object) -> None:
    message = _refused(signer, given, "url_or_token must be a string")
    assert type(given).__name__ in message


def test_a_signed_payload_that_is_not_a_token_is_refused(signer: UnsubscribeSigner) -> None:
    for document in (
        b"not json",
        b'["p1","email","c","r"]',
        b'["p1","fax","c","r","a",0]',
        b'["p1","email","c","r","a",2]',
        b'["","email","c","r","a",0]',
        b'["p1","email",3,"r","a",0]',
        b"{}",
        b"\xff\xfe",
    ):
        payload = _b64(document)
        text = f"u1.{payload}.{_b64(signer._signature(payload))}"
        _refused(signer, text, "its payload cannot be read")


# ---------------------------------------------------------------- the secret


def test_the_secret_is_checked_and_never_shown() -> None:
    assert secret_problems("x" * MIN_SECRET_BYTES) == []
    assert secret_problems(b"\x00" * 32) == []
    assert secret_problems("é" * 8) == []  # 16 UTF-8 bytes
    [short] = secret_problems("hunter2")
    assert "too short (7 bytes)" in short
    assert "secrets.token_urlsafe(32)" in short
    assert "hunter2" not in short
    assert "too long" in secret_problems(b"x" * 5000)[0]
    assert "not int" in secret_problems(12345678901234567890)[0]
    assert "UTF-8" in secret_problems("\ud800" * 20)[0]
    signer = UnsubscribeSigner(SECRET)
    assert SECRET not in repr(signer)
    assert repr(signer) == "UnsubscribeSigner(secret=<hidden>)"
    with pytest.raises(ck.ValidationError, match="secret is too short"):
        UnsubscribeSigner("short")


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_the_kit_refuses_a_bad_secret_naming_it(backend: str, tmp_path: object) -> None:
    clock = ManualClock(T0)
    path = f"{tmp_path}/kit.db"
    for bad in ("too-short", 42):
        with pytest.raises(ck.ValidationError) as caught:
            if backend == "memory":
                ck.CampaignKit.in_memory(clock, secret=bad)  # type: ignore[arg-type]
            else:
                ck.CampaignKit.sqlite(path, clock, secret=bad)  # type: ignore[arg-type]
        assert "secret" in str(caught.value)
        assert "too-short" not in str(caught.value)
    with ck.CampaignKit.sqlite(path, clock, secret=SECRET) as kit:
        assert SECRET not in repr(kit)
        assert SECRET not in repr(kit.unsubscribe_signer)
        assert kit.unsubscribe_signer is not None


# ---------------------------------------------------------------- what can carry a URL


def test_only_marketing_email_with_a_url_and_a_secret_carries_one() -> None:
    with_url = ck.EmailSettings(sender="n@example.com", unsubscribe_url=BASE)
    without = ck.EmailSettings(sender="n@example.com")
    marketing, transactional = ck.Category.MARKETING, ck.Category.TRANSACTIONAL

    def why(**given: object) -> str | None:
        arguments: dict[str, object] = {
            "category": marketing,
            "channel": C.EMAIL,
            "settings": with_url,
            "surface_name": "News",
            "signing": True,
        }
        arguments.update(given)
        return unavailable(**arguments)  # type: ignore[arg-type]

    assert why() is None
    assert "sms messages carry no unsubscribe URL" in (why(channel=C.SMS) or "")
    assert "transactional email never carries" in (why(category=transactional) or "")
    assert "surface 'News' has no unsubscribe_url; set EmailSettings(" in (
        why(settings=without) or ""
    )
    assert "no secret" in (why(signing=False) or "")
    assert "secret=..." in (why(signing=False) or "")


# ---------------------------------------------------------------- rendering


@pytest.mark.parametrize(
    ("source", "fast"),
    [
        ("<a href='{{ unsubscribe_url }}'>stop</a>", True),
        ("{{unsubscribe_url}} {{ profile.name }}", True),
        ("<a href='{{ unsubscribe_url | e }}'>stop</a> {% if 1 %}{% endif %}", False),
    ],
)
def test_templates_read_the_unsubscribe_url_on_both_paths(source: str, fast: bool) -> None:
    url = f"{BASE}?token=u1.abc.def"
    template = compile_template(source)
    assert template.fast is fast
    assert "unsubscribe_url" in template.names
    assert "unsubscribe_url" in template_names(source)
    rendered = template.render({"name": "Ann"}, {}, variables={"unsubscribe_url": url})
    assert url in rendered
    with pytest.raises(MissingAttribute, match="unsubscribe_url"):
        template.render({"name": "Ann"}, {})
    content = CompiledContent.of({"html": source, "subject": "Hi"})
    assert "unsubscribe_url" in content.names
    assert url in content.render({"name": "Ann"}, {}, variables={"unsubscribe_url": url})["html"]


def test_names_of_templates_without_the_url() -> None:
    assert compile_template("plain").names == frozenset()
    assert compile_template("{{ profile.a }}").names == frozenset({"profile"})
    assert "unsubscribe_url" not in compile_template("{% set x = 1 %}{{ x }}").names
    assert template_names("{% if %}") == frozenset()  # does not parse: activation reports it


# ---------------------------------------------------------------- activation and check


def _kit(secret: str | None, url: str | None) -> Iterator[tuple[ck.CampaignKit, ck.UserSession]]:
    kit = ck.CampaignKit.in_memory(ManualClock(T0), ids=SequentialIds(), secret=secret)
    kit.access.assign("ada", ck.ProductProfile.ADMINISTRATOR)
    admin = kit.as_user("ada")
    kit.audiences.define("vip", ["p1"])
    kit.profiles.upsert(
        ck.Profile("p1", identities={"email": "p1@example.com"}, consents={C.EMAIL: True})
    )
    for category in ck.Category:
        admin.create_surface(
            name=f"News {category}",
            channel=C.EMAIL,
            category=category,
            settings=ck.EmailSettings(sender="n@example.com", unsubscribe_url=url),
        )
    admin.create_surface(name="Texts", channel=C.SMS, settings=ck.SmsSettings(sender_id="SHOP"))
    yield kit, admin


def _draft(
    admin: ck.UserSession,
    html: str,
    *,
    category: ck.Category = ck.Category.MARKETING,
    sms: str | None = None,
) -> ck.Campaign:
    surfaces = {s.name: s for s in admin.list_surfaces()}
    actions = [ck.Action(surfaces[f"News {category}"].id, ck.EmailContent(subject="Hi", html=html))]
    if sms is not None:
        actions.append(ck.Action(surfaces["Texts"].id, ck.SmsContent(text=sms)))
    transactional = category is ck.Category.TRANSACTIONAL
    return admin.create_campaign(
        name="Sale",
        type=ck.CampaignType.API_TRIGGERED if transactional else ck.CampaignType.SCHEDULED,
        audience=None if transactional else "vip",
        namespace="email",
        actions=actions,
        category=category,
    )


LINK = "<a href='{{ unsubscribe_url }}'>unsubscribe</a>"


@pytest.mark.parametrize(
    ("secret", "url", "category", "sms", "expected"),
    [
        (None, BASE, ck.Category.MARKETING, None, "the kit has no secret"),
        (SECRET, None, ck.Category.MARKETING, None, "has no unsubscribe_url; set EmailSettings("),
        (SECRET, BASE, ck.Category.TRANSACTIONAL, None, "transactional email never carries"),
        (SECRET, BASE, ck.Category.MARKETING, LINK, "sms messages carry no unsubscribe URL"),
    ],
)
def test_activation_refuses_a_template_using_a_url_that_cannot_be_given(
    secret: str | None,
    url: str | None,
    category: ck.Category,
    sms: str | None,
    expected: str,
) -> None:
    for _, admin in _kit(secret, url):
        html = LINK if sms is None else "<p>hi</p>"
        campaign = _draft(admin, html, category=category, sms=sms)
        with pytest.raises(ck.ValidationError) as caught:
            admin.activate(campaign.id)
        [problem] = [p for p in caught.value.problems if "unsubscribe" in p]
        assert "the template uses {{ unsubscribe_url }}, which these messages cannot" in problem
        assert expected in problem
        assert problem.startswith("action 2 (sms) text" if sms else "action 1 (email) html")
        checked = admin.check(campaign.id)
        assert problem in checked.problems
        assert admin.get(campaign.id).status is ck.CampaignStatus.DRAFT


def test_activation_accepts_the_url_where_it_can_be_given() -> None:
    for _, admin in _kit(SECRET, BASE):
        campaign = _draft(admin, LINK)
        checked = admin.check(campaign.id)
        assert checked.ok, checked.problems
        assert not [w for w in checked.warnings if "unsubscribe" in w]
        admin.activate(campaign.id)


@pytest.mark.parametrize(
    ("secret", "url", "expected"),
    [
        (SECRET, None, "surface 'News MARKETING' has no unsubscribe_url"),
        (None, BASE, "the kit has no secret to sign unsubscribe links"),
    ],
)
def test_check_warns_about_marketing_email_without_one_click_unsubscribe(
    secret: str | None, url: str | None, expected: str
) -> None:
    for _, admin in _kit(secret, url):
        marketing = _draft(admin, "<p>no link</p>")
        checked = admin.check(marketing.id)
        assert checked.ok
        [warning] = [w for w in checked.warnings if "one-click" in w]
        assert expected in warning
        assert "mailbox providers require one-click unsubscribe for bulk senders" in warning
        transactional = _draft(admin, "<p>receipt</p>", category=ck.Category.TRANSACTIONAL)
        assert not [w for w in admin.check(transactional.id).warnings if "one-click" in w]


def test_a_missing_surface_is_reported_once_not_as_an_unsubscribe_problem() -> None:
    for _, admin in _kit(SECRET, BASE):
        campaign = admin.create_campaign(
            name="Orphan",
            audience="vip",
            namespace="email",
            actions=[ck.Action("srf_missing", ck.EmailContent(subject="Hi", html=LINK))],
        )
        problems = admin.check(campaign.id).problems
        assert any("surface 'srf_missing' does not exist" in p for p in problems)
        assert not any("unsubscribe" in p for p in problems)


@pytest.mark.parametrize("base", [BASE, f"{BASE}?list=news", "https://example.com/", f"{BASE}?"])
def test_a_link_builds_the_same_url_as_the_signer(signer: UnsubscribeSigner, base: str) -> None:
    link = UnsubscribeLink(signer, base, "cmp_1", C.EMAIL)
    url = link.url("run_1", "act_1", "p1")
    assert url == signer.url(base, TOKEN)
    assert signer.verify(url) == TOKEN
    assert signer.verify(link.url("run_1", "act_1", "p1", proof=True)).proof
