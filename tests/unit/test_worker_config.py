"""The worker's TOML/env configuration: channels built from it send for real, mistakes are named.

Channels configured here are exercised against real servers on loopback:
an ``aiosmtpd`` SMTP server and the webhook tests' HTTP server, whose
requests must verify with the Standard Webhooks reference verifier under the
secret read from the environment. Every mistake is refused with a message
naming the key and the file, and channels already built are closed.
"""

from __future__ import annotations

import base64
import importlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Iterator, Mapping
from email import message_from_bytes
from pathlib import Path
from typing import Any

import pendulum
import pytest

import campaignkit as ck
from campaignkit.adapters.console import ConsoleChannel
from campaignkit.cli import main
from campaignkit.worker_config import SECRET_ENV, WorkerConfig, load_config, parse_config
from tests.integration.http_server import loopback_server


def needs(module: str) -> Any:
    """Import an optional test dependency: skip without it, except under CI=true (fail)."""
    if os.environ.get("CI") == "true":
        return importlib.import_module(module)
    return pytest.importorskip(module, reason=f"needs {module}: pip install -e '.[dev]'")


aiosmtpd_controller = needs("aiosmtpd.controller")
standardwebhooks = needs("standardwebhooks")

C = ck.ChannelType
KEY = "whsec_" + base64.b64encode(b"k" * 32).decode()


def message(channel: ck.ChannelType = C.SMS, profile: str = "p1") -> ck.Message:
    settings: ck.SmsSettings | ck.EmailSettings = (
        ck.SmsSettings(sender_id="SHOP")
        if channel is C.SMS
        else ck.EmailSettings(sender="news@example.com", sender_name="Shop")
    )
    fields = {"text": "Sale!"} if channel is C.SMS else {"subject": "Hi", "html": "<p>Hi</p>"}
    return ck.Message(
        run_id="run_1",
        campaign_id="cmp_1",
        action_id="act_1",
        profile_id=profile,
        channel=channel,
        address="+33600000001" if channel is C.SMS else f"{profile}@example.com",
        idempotency_key=f"run_1:act_1:{profile}",
        fields=fields,
        settings=settings,
    )


def shaped(message: ck.Message) -> Mapping[str, Any]:
    """A provider's SMS document (the ``payload`` a config names)."""
    return {"to": message.address, "body": message.fields["text"]}


NOT_CALLABLE = 42


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "worker.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path, env: Mapping[str, str] | None = None) -> list[str]:
    with pytest.raises(ck.ValidationError) as caught:
        load_config(path, env=env or {})
    assert caught.value.subject == str(path)
    return caught.value.problems


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, list[bytes]]]:
    """A plain SMTP server on loopback that keeps every message it receives."""
    received: list[bytes] = []
    arrived = threading.Condition()

    class Handler:
        async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
            with arrived:
                received.append(envelope.content)
            return "250 OK"

    with socket.socket() as probe:  # a free port (aiosmtpd checks it is up by connecting)
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    controller = aiosmtpd_controller.Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, received
    finally:
        controller.stop()


# ---------------------------------------------------------------- channels that work


def test_console_channels_for_trying_things_out(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [channels.email]
        type = "console"
        [channels.sms]
        type = "console"
        [channels.push]
        type = "console"
        """,
    )
    config = load_config(path, env={})
    assert set(config.channels) == set(C)
    assert all(isinstance(c, ConsoleChannel) for c in config.channels.values())
    assert config.secret is None
    assert config.delivery == ck.DeliverySettings()
    config.close()  # nothing to close: fine


def test_an_smtp_channel_from_the_file_sends_through_a_real_server(
    tmp_path: Path, smtp_server: tuple[int, list[bytes]]
) -> None:
    port, received = smtp_server
    path = write(
        tmp_path,
        f"""
        [channels.email]
        type = "smtp"
        host = "127.0.0.1"
        port = {port}
        security = "none"
        connections = 2
        timeout = 5
        """,
    )
    config = load_config(path, env={})
    channel = config.channels[C.EMAIL]
    results = channel.send([message(C.EMAIL, "p1"), message(C.EMAIL, "p2")])
    config.close()
    assert all(isinstance(r, ck.Accepted) for r in results)
    recipients = sorted(str(message_from_bytes(raw)["To"]) for raw in received)
    assert recipients == ["p1@example.com", "p2@example.com"]


def test_smtp_settings_and_the_password_from_the_environment_reach_the_channel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    class Spy(ConsoleChannel):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__()
            built.append((args, kwargs))

    monkeypatch.setattr("campaignkit.adapters.smtp.SMTPChannel", Spy)
    path = write(
        tmp_path,
        """
        [channels.email]
        type = "smtp"
        host = "smtp.example.com"
        port = 465
        security = "tls"
        username = "mailer"
        password_env = "SMTP_PASSWORD"
        connections = 8
        timeout = 12.5
        """,
    )
    load_config(path, env={"SMTP_PASSWORD": "s3cret"})
    assert built == [
        (
            ("smtp.example.com",),
            {
                "port": 465,
                "security": "tls",
                "username": "mailer",
                "password": "s3cret",
                "connections": 8,
                "timeout": 12.5,
            },
        )
    ]


def test_a_webhook_channel_signs_with_the_secret_from_the_environment(tmp_path: Path) -> None:
    with loopback_server() as server:
        path = write(
            tmp_path,
            f"""
            [channels.sms]
            type = "webhook"
            url = "{server.url}/sms"
            secret_env = "SMS_SECRET"
            concurrency = 2
            timeout = 5
            payload = "tests.unit.test_worker_config:shaped"
            headers = {{ Authorization = "Bearer abc" }}
            """,
        )
        config = load_config(path, env={"SMS_SECRET": KEY}, clock=ck.SystemClock())
        results = config.channels[C.SMS].send([message(C.SMS, "p1"), message(C.SMS, "p2")])
        config.close()
        requests = server.received()
    assert [type(r) for r in results] == [ck.Accepted, ck.Accepted]
    assert sorted(r.json()["to"] for r in requests) == ["+33600000001", "+33600000001"]
    for request in requests:
        assert request.path == "/sms"
        assert request.json()["body"] == "Sale!"
        assert request.headers["authorization"] == "Bearer abc"
        standardwebhooks.Webhook(KEY).verify(request.body, dict(request.headers))
    assert sorted(r.headers["webhook-id"] for r in requests) == ["run_1:act_1:p1", "run_1:act_1:p2"]


def test_the_secret_and_the_delivery_settings(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        secret = "from-the-file-0123456789"
        [channels.push]
        type = "console"
        [delivery]
        batch_size = 50
        max_attempts = 3
        lease = 120
        """,
    )
    config = load_config(path, env={})
    assert config.secret == "from-the-file-0123456789"
    assert "from-the-file" not in repr(config)
    assert config.delivery == ck.DeliverySettings(
        batch_size=50, max_attempts=3, lease=pendulum.duration(seconds=120)
    )
    assert load_config(path, env={SECRET_ENV: "from-env-0123456789"}).secret == (
        "from-env-0123456789"
    )


def test_closing_the_config_closes_its_channels(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        [channels.sms]
        type = "webhook"
        url = "http://127.0.0.1:9/never"
        """,
    )
    config = load_config(path, env={})
    config.close()
    with pytest.raises(ck.DeliveryError, match="closed"):
        config.channels[C.SMS].send([message()])


# ---------------------------------------------------------------- mistakes


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("colour = 1", "unknown key 'colour' (known: channels, delivery, secret)"),
        ("secret = 1", "secret must be a string, not int"),
        ("channels = 1", "channels must be a table, not int"),
        ("delivery = 1", "delivery must be a table, not int"),
        ("[channels.fax]\ntype = 'console'", "unknown channel 'channels.fax'"),
        ("[channels]\nemail = 'smtp'", "channels.email must be a table"),
        ("[channels.email]\nhost = 'x'", "channels.email.type is missing"),
        ("[channels.email]\ntype = 1", "channels.email.type must be a string, not int"),
        ("[channels.email]\ntype = 'pigeon'", "channels.email.type 'pigeon' is unknown"),
        (
            "[channels.email]\ntype = 'smtp'\nhost = 'x'\nurl = 'y'",
            "unknown key channels.email.url for type 'smtp'",
        ),
        (
            "[channels.email]\ntype = 'smtp'\nhost = 'x'\nport = '587'",
            "channels.email.port must be an integer, not str",
        ),
        (
            "[channels.email]\ntype = 'smtp'\nhost = 'x'\ntimeout = true",
            "channels.email.timeout must be a number, not bool",
        ),
        ("[channels.email]\ntype = 'smtp'", "channels.email: host is missing"),
        (
            "[channels.email]\ntype = 'smtp'\nhost = 'x'\npassword = 'a'\npassword_env = 'B'",
            "channels.email: give password or password_env, not both",
        ),
        (
            "[channels.email]\ntype = 'smtp'\nhost = 'x'\npassword_env = 'UNSET_VARIABLE'",
            "channels.email: password_env names UNSET_VARIABLE, which is not set",
        ),
        (
            "[channels.email]\ntype = 'smtp'\nhost = 'x'\nsecurity = 'ssl'",
            "channels.email: security",
        ),
        ("[channels.sms]\ntype = 'webhook'", "channels.sms: url is missing"),
        (
            "[channels.sms]\ntype = 'webhook'\nurl = 'http://x'\nheaders = { A = 1 }",
            "channels.sms: headers.A must be a string",
        ),
        (
            "[channels.sms]\ntype = 'webhook'\nurl = 'http://x'\npayload = 'nocolon'",
            "channels.sms: payload 'nocolon' must be 'module:function'",
        ),
        (
            "[channels.sms]\ntype = 'webhook'\nurl = 'http://x'\npayload = 'no_such_mod:f'",
            "channels.sms: payload 'no_such_mod:f' cannot be imported",
        ),
        (
            "[channels.sms]\ntype = 'webhook'\nurl = 'http://x'\n"
            "payload = 'tests.unit.test_worker_config:NOT_CALLABLE'",
            "is not callable",
        ),
        ("[channels.push]\ntype = 'console'\ncolour = 1", "unknown key channels.push.colour"),
        (
            "[channels.push]\ntype = 'console'\n[delivery]\nbatch = 1",
            "unknown key delivery.batch (known: batch_size, max_attempts, lease)",
        ),
        (
            "[channels.push]\ntype = 'console'\n[delivery]\nbatch_size = 0",
            "delivery.batch_size must be at least 1, not 0",
        ),
        (
            "[channels.push]\ntype = 'console'\n[delivery]\nlease = 1.5",
            "delivery.lease must be an integer, not float",
        ),
        ("", "configures no channel: add a [channels.email]"),
    ],
)
def test_a_mistake_is_named_with_its_key(tmp_path: Path, text: str, expected: str) -> None:
    problems = problems_of(write(tmp_path, text))
    assert len(problems) == 1
    assert expected in problems[0]


def test_every_mistake_is_listed_and_channels_already_built_are_closed(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        colour = "blue"
        [channels.sms]
        type = "webhook"
        url = "http://127.0.0.1:9/never"
        [channels.push]
        type = "pigeon"
        """,
    )
    built: list[WorkerConfig] = []
    real_close = WorkerConfig.close

    def spy(self: WorkerConfig) -> None:
        built.append(self)
        real_close(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(WorkerConfig, "close", spy)
        problems = problems_of(path)
    assert len(problems) == 2
    (config,) = built
    with pytest.raises(ck.DeliveryError, match="closed"):
        config.channels[C.SMS].send([message()])


def test_a_file_that_cannot_be_read_or_parsed(tmp_path: Path) -> None:
    missing = tmp_path / "missing.toml"
    assert "cannot read it" in problems_of(missing)[0]
    broken = write(tmp_path, "[channels.email\n")
    assert "is not valid TOML" in problems_of(broken)[0]


def test_without_a_file_there_is_no_channel() -> None:
    with pytest.raises(ck.ValidationError, match="configures no channel") as caught:
        load_config(None, env={SECRET_ENV: "x" * 20})
    assert caught.value.subject == "no --config file given"


def test_parse_config_takes_a_parsed_document() -> None:
    config = parse_config({"channels": {"email": {"type": "console"}}}, source="inline", env={})
    assert isinstance(config.channels[C.EMAIL], ConsoleChannel)


# ---------------------------------------------------------------- the command line refusing


def test_the_worker_command_refuses_a_missing_database(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["worker", "--db", str(tmp_path / "nope.db")]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "nope.db does not exist" in err


def test_the_worker_command_says_when_the_database_is_a_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["worker", "--db", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path} is a directory" in err


def test_the_worker_command_refuses_a_bad_config_in_one_line_per_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "kit.db"
    ck.CampaignKit.sqlite(database).close()
    config = write(tmp_path, "[channels.email]\ntype = 'smtp'\nhost = 'x'\nprot = 25\n")
    assert main(["worker", "--db", str(database), "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"campaignkit worker: error: {config}: unknown key channels.email.prot for type 'smtp' "
        "(known: type, host, port, security, username, password, password_env, connections, "
        "timeout)\n"
    )


def test_the_worker_command_refuses_a_file_that_is_not_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "notes.txt"
    database.write_text("not a database", encoding="utf-8")
    config = write(tmp_path, "[channels.email]\ntype = 'console'\n")
    assert main(["worker", "--db", str(database), "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("campaignkit worker: error: ")
    assert err.count("\n") == 1


def test_the_worker_command_refuses_a_secret_too_short(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    database = tmp_path / "kit.db"
    ck.CampaignKit.sqlite(database).close()
    config = write(tmp_path, "[channels.email]\ntype = 'console'\n")
    monkeypatch.setenv(SECRET_ENV, "short")
    assert main(["worker", "--db", str(database), "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err.startswith("campaignkit worker: error: ")
    assert "secret" in err


@pytest.mark.parametrize("poll", ["0", "-1", "abc", "inf", "nan"])
def test_the_poll_interval_must_be_positive(
    tmp_path: Path, poll: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["worker", "--db", str(tmp_path / "kit.db"), "--poll", poll])
    assert caught.value.code == 2
    assert "must be a positive number of seconds" in capsys.readouterr().err


class SignalOnStart(logging.Handler):
    """Raises ``signals`` in this process when the worker logs that it started."""

    def __init__(self, *signals: signal.Signals) -> None:
        super().__init__()
        self.signals = signals

    def emit(self, record: logging.LogRecord) -> None:
        if " started on " in record.getMessage():
            for number in self.signals:
                signal.raise_signal(number)


@pytest.fixture
def worker_log() -> Iterator[logging.Logger]:
    """The worker's logger; the ``campaignkit`` level the command sets is put back after."""
    root = logging.getLogger("campaignkit")
    level = root.level
    logger = logging.getLogger("campaignkit.worker")
    yield logger
    root.setLevel(level)


def test_the_worker_command_runs_until_sigterm_and_exits_0(
    tmp_path: Path, worker_log: logging.Logger
) -> None:
    database = tmp_path / "kit.db"
    ck.CampaignKit.sqlite(database).close()
    config = write(tmp_path, "[channels.email]\ntype = 'console'\n")
    trigger = SignalOnStart(signal.SIGTERM)
    worker_log.addHandler(trigger)
    try:
        code = main(["worker", "--db", str(database), "--config", str(config), "--poll", "5"])
    finally:
        worker_log.removeHandler(trigger)
    assert code == 0
    assert logging.getLogger("campaignkit").level == logging.INFO


def test_a_second_sigint_makes_the_worker_command_exit_130(
    tmp_path: Path, worker_log: logging.Logger
) -> None:
    database = tmp_path / "kit.db"
    ck.CampaignKit.sqlite(database).close()
    config = write(tmp_path, "[channels.email]\ntype = 'console'\n")
    trigger = SignalOnStart(signal.SIGINT, signal.SIGINT)
    worker_log.addHandler(trigger)
    try:
        code = main(
            ["worker", "--db", str(database), "--config", str(config), "--log-level", "DEBUG"]
        )
    finally:
        worker_log.removeHandler(trigger)
    assert code == 130
    assert logging.getLogger("campaignkit").level == logging.DEBUG
