"""WebhookChannel against a real HTTP server on loopback: bodies, signatures, answers, limits.

Every test posts through real sockets to :class:`LoopbackServer` and checks
what the server received (exact bytes and headers) and what the channel
answered. Signatures are checked twice: with the Standard Webhooks reference
verifier (PyPI ``standardwebhooks``, whose timestamp tolerance reads the wall
clock, so those channels sign on the wall clock) and with an independent
implementation of the published algorithm below. Nothing sleeps: slow or held
answers wait on events the test sets.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import importlib
import json
import os
import secrets
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from email.utils import format_datetime
from pathlib import Path
from typing import Any, Final

import pendulum
import pytest

import campaignkit as ck
from campaignkit.adapters.webhook import default_payload, header_id
from campaignkit.domain.delivery import MAX_RETRY_AFTER
from campaignkit.testing import ManualClock
from campaignkit.testing.contracts import make_message
from tests.integration.http_server import LoopbackServer, Received, Reply, loopback_server


def needs(module: str) -> Any:
    """Import an optional test dependency: skip without it, except under CI=true (fail)."""
    if os.environ.get("CI") == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"needs {module}: pip install -e '.[dev]'")


needs("httpx")
standardwebhooks = needs("standardwebhooks")

ROOT: Final = Path(__file__).resolve().parents[2]
T0: Final = pendulum.datetime(2026, 12, 1, 9, tz="UTC")
KEY: Final = bytes(range(32))
SECRET: Final = "whsec_" + base64.b64encode(KEY).decode()
SMS: Final = ck.ChannelType.SMS


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with loopback_server() as running:
        yield running


def channel_to(server: LoopbackServer, **kwargs: Any) -> ck.WebhookChannel:
    return ck.WebhookChannel(server.url + "/hooks", **kwargs)


def messages(*profile_ids: str, channel: ck.ChannelType = SMS) -> list[ck.Message]:
    return [make_message(pid, channel=channel) for pid in profile_ids]


def signature_of(key: bytes, received: Received) -> str:
    """The published algorithm, written again: v1,base64(HMAC-SHA256(key, id.ts.body))."""
    headers = received.headers
    signed = b".".join(
        [headers["webhook-id"].encode(), headers["webhook-timestamp"].encode(), received.body]
    )
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def answer(reply: Reply) -> Any:
    return lambda _received: reply


# ---------------------------------------------------------------- requests


def test_each_message_is_one_signed_compact_json_post(server: LoopbackServer) -> None:
    batch = messages("p1", "p2", "p3")
    before = ck.SystemClock().now().int_timestamp
    with channel_to(server, secret=SECRET) as channel:
        results = channel.send(batch)
    after = ck.SystemClock().now().int_timestamp
    received = sorted(server.received(), key=lambda r: r.json()["profile_id"])
    assert [r.json()["profile_id"] for r in received] == ["p1", "p2", "p3"]
    assert results == [ck.Accepted(f"srv-{r.number}") for r in sorted_by(received, batch)]
    verifier = standardwebhooks.Webhook(SECRET)
    for message, request in zip(batch, received, strict=True):
        assert (request.method, request.path) == ("POST", "/hooks")
        expected = default_payload(message)
        assert request.body == json.dumps(expected, separators=(",", ":")).encode()
        assert verifier.verify(request.body, dict(request.headers)) == expected
        headers = request.headers
        assert headers["content-type"] == "application/json"
        assert headers["idempotency-key"] == headers["webhook-id"] == message.idempotency_key
        assert before <= int(headers["webhook-timestamp"]) <= after
        assert headers["webhook-signature"] == signature_of(KEY, request)


def sorted_by(received: Sequence[Received], batch: Sequence[ck.Message]) -> list[Received]:
    """The requests in the order of the batch's messages."""
    by_key = {r.headers["idempotency-key"]: r for r in received}
    return [by_key[m.idempotency_key] for m in batch]


def test_the_default_document_describes_the_message() -> None:
    message = make_message("p1", channel=ck.ChannelType.PUSH, transactional=True)
    assert default_payload(message) == {
        "type": "campaignkit.message",
        "id": message.idempotency_key,
        "idempotency_key": message.idempotency_key,
        "run_id": "run_1",
        "campaign_id": "cmp_1",
        "action_id": "act_push",
        "profile_id": "p1",
        "channel": "push",
        "address": "token-p1",
        "fields": {"title": "Hello", "body": "Hi"},
        "settings": {"app_id": message.settings.app_id, "platform": "ios"},  # type: ignore[union-attr]
        "proof": False,
        "transactional": True,
        "unsubscribe_url": None,
    }


def test_the_timestamp_comes_from_the_given_clock(server: LoopbackServer) -> None:
    with channel_to(server, secret=SECRET, clock=ManualClock(T0)) as channel:
        channel.send(messages("p1"))
    (request,) = server.received()
    assert request.headers["webhook-timestamp"] == str(T0.int_timestamp)
    assert request.headers["webhook-signature"] == signature_of(KEY, request)
    # the reference verifier reads the wall clock: a signature dated T0 is out of its window
    with pytest.raises(standardwebhooks.WebhookVerificationError, match=r"too (old|new)"):
        standardwebhooks.Webhook(SECRET).verify(request.body, dict(request.headers))


def test_a_raw_bytes_secret_is_the_key_itself(server: LoopbackServer) -> None:
    key = secrets.token_bytes(40)
    with channel_to(server, secret=key) as channel:
        channel.send(messages("p1"))
    (request,) = server.received()
    standardwebhooks.Webhook(key).verify(request.body, dict(request.headers))
    assert request.headers["webhook-signature"] == signature_of(key, request)
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(KEY).verify(request.body, dict(request.headers))


def test_without_a_secret_requests_carry_only_the_idempotency_key(server: LoopbackServer) -> None:
    with channel_to(server) as channel:
        channel.send(messages("p1"))
    (request,) = server.received()
    assert request.headers["idempotency-key"] == make_message("p1", channel=SMS).idempotency_key
    assert not [name for name in request.headers if name.startswith("webhook-")]


def test_odd_keys_are_percent_encoded_in_headers_and_stay_distinct(server: LoopbackServer) -> None:
    odd = ["José", "a\r\nX-Injected: 1", "100%", "100%25", "sp ace"]
    batch = messages(*odd)
    with channel_to(server, secret=SECRET) as channel:
        results = channel.send(batch)
    assert all(isinstance(r, ck.Accepted) for r in results)
    received = sorted_by_body(server.received(), batch)
    ids = [r.headers["webhook-id"] for r in received]
    assert len(set(ids)) == len(odd)
    assert all(i.isascii() and " " not in i and "\r" not in i for i in ids)
    assert "x-injected" not in received[1].headers
    for message, request in zip(batch, received, strict=True):
        assert request.json()["idempotency_key"] == message.idempotency_key  # raw in the body
        assert request.headers["webhook-id"] == header_id(message.idempotency_key)
        standardwebhooks.Webhook(SECRET).verify(request.body, dict(request.headers))
    assert header_id("run_1:act_sms:p1") == "run_1:act_sms:p1"  # plain keys are unchanged


def sorted_by_body(received: Sequence[Received], batch: Sequence[ck.Message]) -> list[Received]:
    by_key = {r.json()["idempotency_key"]: r for r in received}
    return [by_key[m.idempotency_key] for m in batch]


def test_extra_headers_are_sent_and_may_set_the_content_type(server: LoopbackServer) -> None:
    headers = {"Authorization": "Bearer t0k3n", "content-type": "application/vnd.api+json"}
    with channel_to(server, headers=headers) as channel:
        channel.send(messages("p1"))
    (request,) = server.received()
    assert request.headers["authorization"] == "Bearer t0k3n"
    assert request.headers["content-type"] == "application/vnd.api+json"
    assert request.headers["user-agent"] == "campaignkit-webhook"


# ---------------------------------------------------------------- payload callables


def test_a_payload_callable_shapes_each_body() -> None:
    def twilio_like(message: ck.Message) -> Mapping[str, Any]:
        assert isinstance(message.settings, ck.SmsSettings)
        return {"To": message.address, "From": message.settings.sender_id, "Body": "¡Olé!"}

    with loopback_server() as server, channel_to(server, payload=twilio_like) as channel:
        channel.send(messages("p1"))
    (request,) = server.received()
    address = make_message("p1", channel=SMS).address
    sender = make_message("p1", channel=SMS).settings.sender_id  # type: ignore[union-attr]
    expected = f'{{"To":"{address}","From":"{sender}","Body":"¡Olé!"}}'
    assert request.body == expected.encode("utf-8")  # compact, UTF-8, not \\u-escaped


def test_a_failing_payload_fails_only_its_own_message(server: LoopbackServer) -> None:
    def shape(message: ck.Message) -> Any:
        match message.profile_id:
            case "raises":
                raise KeyError("phone")
            case "a-list":
                return ["not", "an", "object"]
            case "not-json":
                return {"when": pendulum.now}
            case "nan":
                return {"score": float("nan")}
            case _:
                return {"to": message.address}

    batch = messages("ok1", "raises", "a-list", "not-json", "nan", "ok2")
    with channel_to(server, payload=shape) as channel:
        results = channel.send(batch)
    assert isinstance(results[0], ck.Accepted)
    assert isinstance(results[5], ck.Accepted)
    assert results[1] == ck.PermanentFailure("payload callable raised KeyError: 'phone'")
    assert results[2] == ck.PermanentFailure(
        "payload callable returned list, not a JSON object (dict)"
    )
    assert isinstance(results[3], ck.PermanentFailure)
    assert results[3].error.startswith("payload is not JSON-serialisable: Object of type")
    assert results[4] == ck.PermanentFailure(
        "payload is not JSON-serialisable: Out of range float values are not JSON compliant"
    )
    assert sorted(r.json()["to"] for r in server.received()) == sorted(
        [batch[0].address, batch[5].address]
    )


# ---------------------------------------------------------------- answers


def test_provider_ids_come_from_the_response_body_else_the_key(server: LoopbackServer) -> None:
    bodies = {
        "a": b'{"id": "prov-a"}',
        "b": b'{"message_id": "prov-b", "status": "queued"}',
        "c": b'{"messageId": "prov-c"}',
        "d": b'{"id": 42, "message_id": "prov-d"}',
        "e": b'{"id": ""}',
        "f": b"accepted",
        "g": b'["prov-g"]',
        "h": b'{"id": "' + b"x" * 257 + b'"}',
        "i": b"",
        "j": b'{"id": "' + b"y" * 70_000 + b'"}',  # beyond what is read: not parsed
    }

    def script(received: Received) -> Reply:
        return Reply(
            202 if received.json()["profile_id"] == "b" else 200,
            {},
            bodies[received.json()["profile_id"]],
        )

    server.script = script
    batch = messages(*bodies)
    with channel_to(server) as channel:
        results = channel.send(batch)
    keys = [m.idempotency_key for m in batch]
    assert results == [
        ck.Accepted("prov-a"),
        ck.Accepted("prov-b"),
        ck.Accepted("prov-c"),
        ck.Accepted("prov-d"),
        *[ck.Accepted(key) for key in keys[4:]],
    ]


def http_date(when: pendulum.DateTime) -> str:
    return format_datetime(datetime.fromtimestamp(when.timestamp(), timezone.utc), usegmt=True)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            Reply(429, {"Retry-After": "120"}),
            ck.TransientFailure("429 Too Many Requests", retry_after=120.0),
        ),
        (
            Reply(503, {"Retry-After": " 7 "}, b"down for\r\nmaintenance"),
            ck.TransientFailure("503 Service Unavailable: down for maintenance", retry_after=7.0),
        ),
        (
            Reply(
                503,
                {"Date": http_date(T0), "Retry-After": http_date(T0.add(seconds=90))},
                date=False,
            ),
            ck.TransientFailure("503 Service Unavailable", retry_after=90.0),
        ),
        (  # no Date header: the date counts from the channel's clock (T0 - 1 h)
            Reply(502, {"Retry-After": http_date(T0.add(seconds=30))}, date=False),
            ck.TransientFailure("502 Bad Gateway", retry_after=3630.0),
        ),
        (  # "-0000" (no zone information) is read as GMT, as HTTP-dates are
            Reply(
                503,
                {
                    "Date": "Tue, 01 Dec 2026 09:00:00 -0000",
                    "Retry-After": "Tue, 01 Dec 2026 09:00:45 -0000",
                },
                date=False,
            ),
            ck.TransientFailure("503 Service Unavailable", retry_after=45.0),
        ),
        (  # a date already past asks for no wait at all
            Reply(
                500,
                {"Date": http_date(T0), "Retry-After": http_date(T0.subtract(minutes=5))},
                date=False,
            ),
            ck.TransientFailure("500 Internal Server Error", retry_after=0.0),
        ),
        (
            Reply(500, {"Retry-After": "soon, promise"}),
            ck.TransientFailure("500 Internal Server Error", retry_after=None),
        ),
        (
            Reply(429, {"Retry-After": "9" * 5000}),
            ck.TransientFailure("429 Too Many Requests", retry_after=MAX_RETRY_AFTER),
        ),
        (Reply(408), ck.TransientFailure("408 Request Timeout")),
        (Reply(599, {}, b"odd"), ck.TransientFailure("599: odd")),
        (
            Reply(400, {}, b'{"error": "invalid number"}' + b" pad" * 100),
            ck.PermanentFailure(
                "400 Bad Request: " + ('{"error": "invalid number"}' + " pad" * 100)[:200]
            ),
        ),
        (Reply(404), ck.PermanentFailure("404 Not Found")),
        (Reply(401, {"Retry-After": "60"}), ck.PermanentFailure("401 Unauthorized")),
        (
            Reply(308, {"Location": "https://elsewhere.example/hooks"}),
            ck.PermanentFailure(
                "308 Permanent Redirect: redirects are not followed "
                "(Location: https://elsewhere.example/hooks); configure the final URL"
            ),
        ),
        (Reply(299, {}, b'{"id": "p-299"}'), ck.Accepted("p-299")),
    ],
)
def test_answers_map_to_results(
    server: LoopbackServer, reply: Reply, expected: ck.SendResult
) -> None:
    server.script = answer(reply)
    with channel_to(server, clock=ManualClock(T0.subtract(hours=1))) as channel:
        assert channel.send(messages("p1")) == [expected]
    assert len(server.received()) == 1  # one request: no redirect followed, no retry inside


def test_a_server_slower_than_the_timeout_is_a_transient_failure(server: LoopbackServer) -> None:
    release = threading.Event()
    server.script = answer(Reply(200, hold=release))
    try:
        with channel_to(server, timeout=0.5) as channel:
            assert channel.send(messages("p1")) == [
                ck.TransientFailure("timeout after 0.5 s (ReadTimeout)")
            ]
    finally:
        release.set()
    assert len(server.received()) == 1


def test_a_refused_connection_is_a_transient_failure() -> None:
    with loopback_server() as gone:
        url = gone.url
    with ck.WebhookChannel(url) as channel:
        (result,) = channel.send(messages("p1"))
    assert isinstance(result, ck.TransientFailure)
    assert result.error.startswith("connection error (ConnectError): ")
    assert result.retry_after is None


# ---------------------------------------------------------------- concurrency and pooling


def test_up_to_concurrency_requests_are_in_flight_at_once(server: LoopbackServer) -> None:
    gate = threading.Event()
    server.script = lambda received: Reply(200, {}, b"", hold=gate)
    batch = messages(*(f"p{i:02d}" for i in range(40)))
    answered: list[Sequence[ck.SendResult]] = []
    with channel_to(server, concurrency=8) as channel:
        sender = threading.Thread(target=lambda: answered.append(channel.send(batch)))
        sender.start()
        try:
            assert server.wait_until(lambda s: s.in_flight >= 8)
            assert server.wait_until(lambda s: s.in_flight > 8, timeout=0.3) is False
        finally:
            gate.set()
            sender.join()
    assert server.max_in_flight == 8
    assert answered == [[ck.Accepted(m.idempotency_key) for m in batch]]  # in order
    assert len({r.client for r in server.received()}) <= 8  # over at most 8 connections


def test_connections_are_kept_alive_across_batches(server: LoopbackServer) -> None:
    with channel_to(server, concurrency=4) as channel:
        for batch in range(5):
            channel.send(messages(*(f"b{batch}-p{i}" for i in range(12))))
    received = server.received()
    assert len(received) == 60
    assert len({r.client for r in received}) <= 4
    assert server.max_in_flight <= 4


def test_with_concurrency_1_requests_go_one_at_a_time(server: LoopbackServer) -> None:
    with channel_to(server, concurrency=1) as channel:
        channel.send(messages("p1", "p2", "p3", "p4"))
    assert (len(server.received()), server.max_in_flight) == (4, 1)


# ---------------------------------------------------------------- life cycle and arguments


def test_a_closed_channel_refuses_to_send(server: LoopbackServer) -> None:
    channel = channel_to(server, secret=SECRET, concurrency=3)
    assert repr(channel) == f"WebhookChannel('{server.url}/hooks', signed, concurrency=3)"
    assert channel.send([]) == []
    channel.send(messages("p1", "p2"))
    channel.close()
    channel.close()  # twice is fine
    with pytest.raises(ck.DeliveryError, match="closed"):
        channel.send(messages("p3"))
    assert len(server.received()) == 2
    assert "unsigned" in repr(ck.WebhookChannel("https://example.com/h"))


@pytest.mark.parametrize(
    ("kwargs", "problem"),
    [
        ({"url": "ftp://example.com/h"}, "url 'ftp://example.com/h' must be http:// or https://"),
        ({"url": "https:///path"}, "must be http:// or https:// with a host"),
        ({"url": "https://example.com:99999/h"}, "is not a URL"),
        ({"url": "https://example.com/h#frag"}, "no fragment"),
        ({"url": "https://example.com/a b"}, "no fragment, spaces"),
        ({"url": b"https://example.com"}, "url must be a string"),
        ({"secret": "s3cr3t"}, "secret is a string without the 'whsec_' prefix"),
        ({"secret": "whsec_!!!"}, "does not hold valid base64"),
        ({"secret": "whsec_" + base64.b64encode(b"short").decode()}, "5-byte key"),
        ({"secret": b""}, "0-byte key"),
        ({"secret": 42}, "secret must be a str or bytes, not int"),
        ({"concurrency": 0}, "concurrency must be an integer from 1 to 1000"),
        ({"concurrency": 1001}, "not 1001"),
        ({"concurrency": True}, "not True"),
        ({"timeout": 0}, "timeout must be a finite number of seconds > 0"),
        ({"timeout": float("inf")}, "not inf"),
        ({"timeout": "10"}, "not '10'"),
        ({"headers": ["Authorization"]}, "headers must be a mapping"),
        ({"headers": {"Bad Name": "x"}}, "is not an HTTP token"),
        ({"headers": {"webhook-signature": "v1,x"}}, "is set by the channel itself"),
        ({"headers": {"Idempotency-Key": "k"}}, "is set by the channel itself"),
        ({"headers": {"X-Note": "a\r\nb"}}, "printable ASCII string value"),
        ({"headers": {"X-Note": 5}}, "printable ASCII string value"),
        ({"payload": "to"}, "payload must be a callable"),
        ({"clock": "now"}, "clock must be a Clock"),
    ],
)
def test_bad_arguments_are_refused_with_the_reason(kwargs: dict[str, Any], problem: str) -> None:
    arguments: dict[str, Any] = {"url": "https://example.com/hooks", **kwargs}
    with pytest.raises(ck.ValidationError, match="WebhookChannel has 1 problem") as caught:
        ck.WebhookChannel(**arguments)
    assert problem in str(caught.value)


def test_every_bad_argument_is_listed_at_once() -> None:
    with pytest.raises(ck.ValidationError, match="has 4 problems"):
        ck.WebhookChannel("mailto:x", secret="nope", concurrency=0, timeout=-1)


def test_without_httpx_building_a_channel_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)
    monkeypatch.delitem(sys.modules, "campaignkit.adapters.webhook_transport", raising=False)
    with pytest.raises(ck.DeliveryError, match=r"pip install 'campaignkit\[http\]'"):
        ck.WebhookChannel("https://example.com/hooks")


def test_campaignkit_imports_without_httpx() -> None:
    script = (
        "import sys; sys.modules['httpx'] = None; import campaignkit as ck; "
        "assert 'httpx' not in [m for m in sys.modules if sys.modules[m] is not None]; "
        "print(ck.WebhookChannel.__name__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert (done.returncode, done.stdout.strip()) == (0, "WebhookChannel"), done.stderr
