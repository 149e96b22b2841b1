"""SMTPChannel against real aiosmtpd servers on loopback: plain, STARTTLS and implicit TLS.

What the server receives is parsed with the standard library's email parser;
reply codes, dropped connections, concurrency and connection reuse are
observed from the server's side.
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
import threading
from collections.abc import Iterator, Mapping

import attrs
import pytest

from campaignkit import EmailSettings, SmsSettings
from campaignkit.adapters.smtp import SMTPChannel, html_to_text, message_id
from campaignkit.domain.delivery import (
    Accepted,
    Message,
    PermanentFailure,
    SendResult,
    TransientFailure,
)
from campaignkit.errors import ValidationError
from campaignkit.testing.contracts import make_message
from tests.integration.smtp_server import (
    Certificates,
    RecordingHandler,
    certificates,
    free_port,
    smtp_server,
)

SHOP = EmailSettings(
    sender="news@example.com",
    sender_name="Zoë's Boutique",
    reply_to="help@example.com",
    unsubscribe_mailto="unsub@example.com",
)
UNSUBSCRIBE = "https://example.com/u?token=" + "t0k3n" * 40  # longer than a header line


@pytest.fixture(scope="module")
def tls() -> Certificates:
    return certificates()


@pytest.fixture
def handler() -> RecordingHandler:
    return RecordingHandler()


@pytest.fixture
def port(handler: RecordingHandler) -> Iterator[int]:
    with smtp_server(handler) as port:
        yield port


@pytest.fixture
def channel(port: int) -> Iterator[SMTPChannel]:
    with SMTPChannel("127.0.0.1", port, security="none", timeout=5) as channel:
        yield channel


def email(
    pid: str,
    *,
    settings: EmailSettings = SHOP,
    fields: Mapping[str, str] | None = None,
    unsubscribe_url: str | None = None,
    address: str = "",
    transactional: bool = False,
    proof: bool = False,
) -> Message:
    message = make_message(
        pid, address=address, fields=fields, transactional=transactional, proof=proof
    )
    return attrs.evolve(message, settings=settings, unsubscribe_url=unsubscribe_url)


def accepted_ids(results: list[SendResult]) -> list[str]:
    ids = []
    for result in results:
        assert isinstance(result, Accepted), result
        ids.append(result.provider_message_id)
    return ids


# ---------------------------------------------------------------- what is received


def test_messages_arrive_with_encoded_headers_both_parts_and_a_stable_message_id(
    channel: SMTPChannel, handler: RecordingHandler
) -> None:
    subject = "Soldes d'hiver — jusqu'à -50 % ✨"
    html = "<h1>Bonjour Zoë</h1><p>Voir <a href='https://shop.example/s'>les offres</a></p>"
    messages = [
        email("p1", fields={"subject": subject, "html": html}),
        email("p2", fields={"subject": "Hi", "html": "<p>HTML</p>", "text": "Own text"}),
    ]
    results = list(channel.send(messages))
    assert len(handler.received) == 2

    first = handler.to("p1@example.com")[0]
    parsed = first.parsed
    assert first.mail_from == "news@example.com"
    assert first.rcpt_tos == ("p1@example.com",)
    raw_headers = first.data.split(b"\r\n\r\n", 1)[0]
    assert raw_headers.isascii()  # non-ASCII travels RFC 2047-encoded
    assert b"=?utf-8?" in raw_headers
    assert parsed["From"].addresses[0].display_name == "Zoë's Boutique"
    assert parsed["From"].addresses[0].addr_spec == "news@example.com"
    assert str(parsed["To"]) == "p1@example.com"
    assert str(parsed["Reply-To"]) == "help@example.com"
    assert str(parsed["Subject"]) == subject
    assert parsed["Date"].datetime is not None
    assert parsed.get_content_type() == "multipart/alternative"
    plain = parsed.get_body(("plain",))
    rich = parsed.get_body(("html",))
    assert plain is not None
    assert rich is not None
    assert plain.get_content().strip() == "Bonjour Zoë\n\nVoir les offres (https://shop.example/s)"
    assert rich.get_content().strip() == html

    digest = hashlib.sha256(messages[0].idempotency_key.encode()).hexdigest()[:32]
    assert str(parsed["Message-ID"]) == f"<{digest}@example.com>"
    assert results[0] == Accepted(f"{digest}@example.com")  # the provider id is the Message-ID
    assert message_id(messages[0].idempotency_key, "example.com") == f"{digest}@example.com"

    second = handler.to("p2@example.com")[0].parsed
    plain = second.get_body(("plain",))
    assert plain is not None
    assert plain.get_content().strip() == "Own text"  # the content's text wins over derivation

    long_subject = "A plain ASCII subject that is far too long to fit on one header line " * 2
    [text_only] = channel.send([email("p3", fields={"subject": long_subject, "text": "Just text"})])
    assert isinstance(text_only, Accepted)
    third = handler.to("p3@example.com")[0].parsed
    assert third.get_content_type() == "text/plain"  # no HTML: no alternative
    assert third.get_content().strip() == "Just text"
    assert str(third["Subject"]) == long_subject  # folded by the email package, unchanged
    assert all(len(line) <= 78 for line in handler.to("p3@example.com")[0].data.split(b"\r\n"))

    # the same message again carries the same Message-ID (a receiving system can drop it)
    assert list(channel.send(messages[:1])) == results[:1]
    repeats = handler.to("p1@example.com")
    assert [r.message_id for r in repeats] == [str(parsed["Message-ID"])] * 2


def test_unsubscribe_headers_only_on_marketing_messages(
    channel: SMTPChannel, handler: RecordingHandler
) -> None:
    no_mailto = attrs.evolve(SHOP, unsubscribe_mailto=None)
    messages = [
        email("both", unsubscribe_url=UNSUBSCRIBE),
        email("url", unsubscribe_url=UNSUBSCRIBE, settings=no_mailto),
        email("mailto"),
        email("nothing", settings=no_mailto),
        email("proof", unsubscribe_url=UNSUBSCRIBE, proof=True),
        email("receipt", unsubscribe_url=UNSUBSCRIBE, transactional=True),
    ]
    accepted_ids(list(channel.send(messages)))
    headers = {
        pid: handler.to(f"{pid}@example.com")[0].parsed
        for pid in ("both", "url", "mailto", "nothing", "proof", "receipt")
    }
    mailto = "<mailto:unsub@example.com?subject=unsubscribe>"
    one_click = "List-Unsubscribe=One-Click"
    expected = {
        "both": (f"<{UNSUBSCRIBE}>, {mailto}", one_click),
        "url": (f"<{UNSUBSCRIBE}>", one_click),
        "mailto": (mailto, None),  # no https URL: no one-click POST
        "nothing": (None, None),
        "proof": (f"<{UNSUBSCRIBE}>, {mailto}", one_click),  # a proof looks like the real mail
        "receipt": (None, None),  # never on transactional messages
    }
    for pid, (unsubscribe, post) in expected.items():
        parsed = headers[pid]
        found = parsed["List-Unsubscribe"]
        assert (None if found is None else str(found), parsed["List-Unsubscribe-Post"]) == (
            unsubscribe,
            post,
        ), pid
    # the long URL stays one literal token (folded between targets, never encoded)
    raw = handler.to("both@example.com")[0].data
    assert f"List-Unsubscribe: <{UNSUBSCRIBE}>,\r\n {mailto}\r\n".encode() in raw


def test_messages_that_cannot_be_encoded_fail_alone_and_inject_nothing(
    channel: SMTPChannel, handler: RecordingHandler
) -> None:
    messages = [
        email("ok1"),
        email("inject", fields={"subject": "Hi\r\nBcc: victim@example.com", "html": "<p>x</p>"}),
        email("name", settings=attrs.evolve(SHOP, sender_name="Shop\nBcc: victim@example.com")),
        email("to", address="p@example.com\r\nBcc: victim@example.com"),
        email("utf8", address="zoë@example.com"),
        email("noat", address="not-an-address"),
        email("weird", address="a b@example.com"),
        email("idn", address="ann@exämple.com"),
        email("label", address=f"ann@{'x' * 64}.example"),
        email("quoted", address='"ann"@example.com'),
        attrs.evolve(make_message("sms"), settings=SmsSettings(sender_id="SHOP")),
        email("badurl", unsubscribe_url="https://example.com/u?t=a b"),
        email("surrogate", fields={"subject": "Hi", "html": "<p>\ud800</p>"}),
        email("ok2"),
    ]
    results = list(channel.send(messages))
    assert isinstance(results[0], Accepted)
    assert isinstance(results[-1], Accepted)
    assert isinstance(results[7], Accepted)  # IDN domain: sent in its ASCII (IDNA) form
    failures = {}
    for message, result in zip(messages, results, strict=True):
        if not isinstance(result, Accepted):
            assert isinstance(result, PermanentFailure), (message.profile_id, result)
            failures[message.profile_id] = result.error
    assert set(failures) == {
        "inject",
        "name",
        "to",
        "utf8",
        "noat",
        "weird",
        "label",
        "quoted",
        "sms",
        "badurl",
        "surrogate",
    }
    assert "cannot be encoded" in failures["surrogate"]
    assert "IDNA" in failures["label"]
    assert "plain addr-spec" in failures["quoted"]
    assert "subject" in failures["inject"]
    assert "line break" in failures["inject"]
    assert "sender_name" in failures["name"]
    assert "line break" in failures["to"]
    assert "SMTPUTF8" in failures["utf8"]
    assert "not an email address" in failures["noat"]
    assert "SmsSettings" in failures["sms"]
    assert "List-Unsubscribe" in failures["badurl"]
    assert sorted(r.rcpt_tos for r in handler.received) == [
        ("ann@xn--exmple-cua.com",),
        ("ok1@example.com",),
        ("ok2@example.com",),
    ]
    assert not any(b"victim" in r.data for r in handler.received)
    assert list(channel.send([])) == []


# ---------------------------------------------------------------- TLS and login


def test_starttls_with_login(tls: Certificates) -> None:
    handler = RecordingHandler()
    with smtp_server(handler, mode="starttls", tls=tls, auth=("ann", "s3cret")) as port:
        with SMTPChannel(
            "127.0.0.1", port, username="ann", password="s3cret", ssl_context=tls.client
        ) as channel:
            assert accepted_ids(list(channel.send([email("p1"), email("p2")])))
        with SMTPChannel(
            "127.0.0.1", port, username="ann", password="wrong", ssl_context=tls.client
        ) as channel:
            results = list(channel.send([email("p3"), email("p4")]))
        # the server's own default trust store does not know the test CA
        with SMTPChannel("127.0.0.1", port, username="ann", password="s3cret") as untrusted:
            refused = list(untrusted.send([email("p5")]))
    assert sorted(r.rcpt_tos[0] for r in handler.received) == ["p1@example.com", "p2@example.com"]
    for result in results:
        assert isinstance(result, TransientFailure)
        assert "535" in result.error
        assert "cannot connect" in result.error
    [result] = refused
    assert isinstance(result, TransientFailure)
    assert "CERTIFICATE_VERIFY_FAILED" in result.error


def test_starttls_is_required_when_asked_for(handler: RecordingHandler, port: int) -> None:
    with SMTPChannel("127.0.0.1", port, security="starttls") as channel:
        [result] = channel.send([email("p1")])
    assert isinstance(result, TransientFailure)
    assert "STARTTLS" in result.error
    assert handler.received == []


def test_implicit_tls(tls: Certificates) -> None:
    handler = RecordingHandler()
    with (
        smtp_server(handler, mode="tls", tls=tls) as port,
        SMTPChannel("127.0.0.1", port, security="tls", ssl_context=tls.client) as channel,
    ):
        ids = accepted_ids(list(channel.send([email(f"p{i}") for i in range(6)])))
    assert sorted(r.message_id for r in handler.received) == sorted(f"<{i}>" for i in ids)


# ---------------------------------------------------------------- reply codes


def test_reply_codes_are_mapped_per_recipient_and_the_connection_is_kept() -> None:
    def rcpt(address: str, before: int) -> str | None:
        if address.startswith("busy"):
            return "451 4.3.0 try later"
        if address.startswith("gone"):
            return "550 5.1.1 no such user"
        return None

    handler = RecordingHandler(
        rcpt=rcpt,
        mail=lambda sender: "553 5.7.1 sender not allowed" if sender.startswith("bad") else None,
        data=lambda n: "554 5.7.1 looks like spam" if n == 2 else None,
    )
    bad_sender = attrs.evolve(SHOP, sender="bad@example.com")
    with (
        smtp_server(handler) as port,
        SMTPChannel("127.0.0.1", port, security="none", connections=1) as channel,
    ):
        results = list(
            channel.send(
                [
                    email("ok1"),
                    email("busy"),
                    email("gone"),
                    email("spam"),  # the 2nd DATA
                    email("from", settings=bad_sender),
                    email("ok2"),
                ]
            )
        )
    assert isinstance(results[0], Accepted)
    assert results[1] == TransientFailure("451 4.3.0 try later")
    assert results[2] == PermanentFailure("550 5.1.1 no such user")
    assert results[3] == PermanentFailure("554 5.7.1 looks like spam")
    assert results[4] == PermanentFailure("553 5.7.1 sender not allowed")
    assert isinstance(results[5], Accepted)
    assert sorted(r.rcpt_tos[0] for r in handler.received) == ["ok1@example.com", "ok2@example.com"]
    assert len(handler.sessions) == 1  # one refusal never costs the connection


def test_a_421_closes_the_connection_and_the_next_message_opens_another() -> None:
    handler = RecordingHandler(
        rcpt=lambda address, before: "421 4.3.2 closing" if address.startswith("p2") else None
    )
    with (
        smtp_server(handler) as port,
        SMTPChannel("127.0.0.1", port, security="none", connections=1) as channel,
    ):
        results = list(channel.send([email("p1"), email("p2"), email("p3")]))
    assert results[1] == TransientFailure("421 4.3.2 closing")
    assert isinstance(results[2], Accepted)
    assert len(handler.sessions) == 2


# ---------------------------------------------------------------- dropped connections


@pytest.mark.parametrize("drop", ["lose", "keep"])
def test_a_connection_dropped_during_data_loses_nothing_and_repeats_keep_the_id(
    drop: str,
) -> None:
    """The 3rd and 7th DATA die before the 250: retried, every recipient ends with its message.

    ``lose``: the server dropped before keeping the message, so the retry is the
    only copy. ``keep``: it kept the message, then the connection died before
    the reply; the retry is a second copy with the same Message-ID.
    """
    handler = RecordingHandler(drop=lambda n: drop if n in (3, 7) else None)
    recipients = [f"p{i}" for i in range(12)]
    messages = {pid: email(pid) for pid in recipients}
    with (
        smtp_server(handler) as port,
        SMTPChannel("127.0.0.1", port, security="none", connections=2) as channel,
    ):
        pending = list(recipients)
        rounds = 0
        while pending:
            rounds += 1
            results = list(channel.send([messages[pid] for pid in pending]))
            pending = [
                pid
                for pid, result in zip(pending, results, strict=True)
                if isinstance(result, TransientFailure)
            ]
            assert all(not isinstance(r, PermanentFailure) for r in results)
            if rounds == 1:
                assert len(pending) == 2
                failure = results[[*recipients].index(pending[0])]
                assert isinstance(failure, TransientFailure)
                assert "same Message-ID" in failure.error
    assert rounds == 2
    ids = {r.message_id for r in handler.received}
    assert len(ids) == len(recipients)  # one distinct Message-ID per recipient: none lost
    copies = [len(handler.to(f"{pid}@example.com")) for pid in recipients]
    if drop == "lose":
        assert copies == [1] * len(recipients)  # each delivered exactly once
    else:
        assert sorted(copies) == [1] * 10 + [2, 2]  # the repeats carry the first id


def test_connections_the_server_closed_are_replaced(handler: RecordingHandler) -> None:
    port = free_port()
    with SMTPChannel("127.0.0.1", port, security="none", connections=2) as channel:
        with smtp_server(handler, port=port):
            accepted_ids(list(channel.send([email(f"a{i}") for i in range(4)])))
        kept = channel.idle_connections
        assert kept >= 1  # kept for reuse, but the server is gone
        before = len(handler.sessions)
        # nobody listens: the first failed connect answers the rest of the batch at once
        down = list(channel.send([email(f"b{i}") for i in range(5)]))
        assert all(isinstance(r, TransientFailure) and "cannot connect" in r.error for r in down)
        with smtp_server(handler, port=port):  # restarted: dead ones fail NOOP, new ones open
            accepted_ids(list(channel.send([email(f"c{i}") for i in range(4)])))
    assert len(handler.received) == 8
    assert len(handler.sessions) > before


# ---------------------------------------------------------------- concurrency and reuse


def test_a_batch_is_sent_concurrently_over_reused_connections() -> None:
    handler = RecordingHandler(delay=0.02)
    with (
        smtp_server(handler) as port,
        SMTPChannel("127.0.0.1", port, security="none", connections=4) as channel,
    ):
        first = [email(f"p{i:02d}") for i in range(40)]
        ids = accepted_ids(list(channel.send(first)))
        assert ids == [message_id(m.idempotency_key, "example.com") for m in first]  # in order
        assert handler.peak == 4  # four sessions in DATA at once
        assert len(handler.sessions) == 4
        assert channel.idle_connections == 4
        accepted_ids(list(channel.send([email(f"q{i:02d}") for i in range(40)])))
        assert len(handler.sessions) == 4  # the second batch reused them (after NOOP)
        channel.close()
        assert channel.idle_connections == 0
        accepted_ids(list(channel.send([email("r1")])))  # a closed channel opens anew
    assert len(handler.sessions) == 5
    assert len(handler.received) == 81


def test_concurrent_sends_share_the_pool_without_exceeding_it() -> None:
    handler = RecordingHandler(delay=0.01)
    with (
        smtp_server(handler) as port,
        SMTPChannel("127.0.0.1", port, security="none", connections=3) as channel,
    ):
        outcomes: dict[int, list[SendResult]] = {}

        def run(n: int) -> None:
            outcomes[n] = list(channel.send([email(f"t{n}-{i}") for i in range(10)]))

        threads = [threading.Thread(target=run, args=(n,)) for n in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert all(len(accepted_ids(outcomes[n])) == 10 for n in range(3))
    assert handler.peak <= 3
    assert len(handler.sessions) <= 3
    assert len(handler.received) == 30


def test_closing_during_a_send_closes_the_connections_in_use_when_released() -> None:
    channel: SMTPChannel | None = None
    closers: list[threading.Thread] = []

    def rcpt(address: str, before: int) -> str | None:
        if address.startswith("closer"):
            assert channel is not None
            # while the batch is in flight, from another thread: closing sends QUIT on an
            # idle connection, which this server could not answer while its loop waits here
            closer = threading.Thread(target=channel.close)
            closer.start()
            closers.append(closer)
        return None

    handler = RecordingHandler(rcpt=rcpt)
    with smtp_server(handler) as port:
        channel = SMTPChannel("127.0.0.1", port, security="none", connections=2)
        accepted_ids(list(channel.send([email("a"), email("closer"), email("b"), email("c")])))
        for closer in closers:
            closer.join()
        assert channel.idle_connections == 0  # released after close: closed, not kept
        accepted_ids(list(channel.send([email("d")])))
        assert channel.idle_connections == 1
        channel.close()


def test_an_unexpected_error_answers_transient_and_keeps_the_other_results(
    channel: SMTPChannel, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = smtplib.SMTP.sendmail

    def sendmail(self: smtplib.SMTP, sender: str, to: list[str], data: bytes) -> object:
        if to == ["boom@example.com"]:
            raise RuntimeError("bug")
        return real(self, sender, to, data)

    monkeypatch.setattr(smtplib.SMTP, "sendmail", sendmail)
    results = list(channel.send([email("a"), email("boom"), email("b")]))
    assert isinstance(results[0], Accepted)
    assert results[1] == TransientFailure("unexpected error while sending: RuntimeError: bug")
    assert isinstance(results[2], Accepted)


def test_a_message_that_breaks_composition_fails_alone(
    channel: SMTPChannel, handler: RecordingHandler, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(html: str) -> str:
        if "boom" in html:
            raise RuntimeError("parser bug")
        return html_to_text(html)

    monkeypatch.setattr("campaignkit.adapters.smtp._compose.html_to_text", broken)
    results = list(
        channel.send([email("a"), email("b", fields={"subject": "x", "html": "boom"}), email("c")])
    )
    assert results[1] == PermanentFailure(
        "the message could not be composed: RuntimeError: parser bug"
    )
    assert isinstance(results[0], Accepted)
    assert isinstance(results[2], Accepted)
    assert len(handler.received) == 2


# ---------------------------------------------------------------- arguments


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"host": ""}, "host"),
        ({"host": "smtp example"}, "host"),
        ({"port": 0}, "port"),
        ({"port": True}, "port"),
        ({"security": "ssl"}, "security"),
        ({"username": "ann"}, "password is missing"),
        ({"password": "pw"}, "username is missing"),
        ({"username": 5, "password": "pw"}, "username must be a string"),
        ({"username": "ann", "password": "pw", "security": "none"}, "clear text"),
        ({"connections": 0}, "connections"),
        ({"connections": 1000}, "connections"),
        ({"timeout": 0}, "timeout"),
        ({"timeout": float("nan")}, "timeout"),
        ({"ssl_context": "yes"}, "ssl_context must be"),
        ({"ssl_context": ssl.create_default_context(), "security": "none"}, "ssl_context"),
    ],
)
def test_wrong_arguments_are_named(kwargs: dict[str, object], named: str) -> None:
    arguments: dict[str, object] = {"host": "smtp.example.com", **kwargs}
    with pytest.raises(ValidationError) as raised:
        SMTPChannel(**arguments)  # type: ignore[arg-type]
    assert raised.value.subject == "SMTPChannel"
    assert len(raised.value.problems) == 1
    assert named in raised.value.problems[0]


def test_repr_never_shows_the_password() -> None:
    channel = SMTPChannel("smtp.example.com", 465, security="tls", username="ann", password="pw")
    assert "pw" not in repr(channel)
    assert "smtp.example.com" in repr(channel)


# ---------------------------------------------------------------- text from HTML


def test_text_is_derived_from_html() -> None:
    html = """<html><head><title>T</title><style>p { color: red }</style></head><body>
      <h1>Winter&nbsp;sale</h1>
      <p>Hi   <b>Zoë</b>,
         see <a href="https://shop.example/s">our deals</a>
         or <a href="https://shop.example">https://shop.example</a>.</p>
      <script>alert("no")</script>
      <ul><li>One</li><li>Two <a href="#top">top</a></li></ul>
      Bye<br>now <img src="logo.png" alt="Logo"><br/>
      <a href="mailto:help@shop.example">help@shop.example</a> <a href="https://x.example"/>
      <a href="https://empty.example"></a> <template><p>hidden</p></template>
      <img src="spacer.gif"> <a href="#"/> <style/> <script><img alt="no"></script>
      <template><a href="https://no.example"/><img alt="no"/><a href="https://no">no</a></template>
      end <hr/> </p></body></html>"""
    assert html_to_text(html) == (
        "Winter sale\n"
        "\n"
        "Hi Zoë, see our deals (https://shop.example/s) or https://shop.example.\n"
        "\n"
        "- One\n"
        "- Two top\n"
        "\n"
        "Bye\n"
        "now Logo\n"
        "help@shop.example https://x.example https://empty.example end"
    )
    assert html_to_text("<p>Text <a>without target</a></p>") == "Text without target"
    assert html_to_text("") == ""
    assert html_to_text("plain words") == "plain words"
