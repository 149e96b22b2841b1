"""examples/send_real_email.py sends real email: what an SMTP server receives from it.

The example runs against the tests' own recording aiosmtpd server (``--host``
and ``--port``), so the test reads the very bytes the server received, and on
its own server (no arguments), where the test reads what it prints. Either way
it leaves no file behind.
"""

from __future__ import annotations

import runpy
import tempfile
from pathlib import Path
from typing import Any

import pytest

from campaignkit.domain.unsubscribe import UnsubscribeSigner
from tests.integration.smtp_server import RecordingHandler, smtp_server

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "send_real_email.py"


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The example's namespace (not run); its temporary files go under ``tmp_path``."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return runpy.run_path(str(SCRIPT), run_name="send_real_email")


def test_the_server_receives_one_marketing_email_per_subscriber(
    example: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = RecordingHandler()
    with smtp_server(handler) as port:
        example["main"](["--host", "127.0.0.1", "--port", str(port)])
    signer = UnsubscribeSigner(example["SECRET"])
    received = sorted(handler.received, key=lambda r: r.rcpt_tos)
    assert [r.rcpt_tos for r in received] == [
        ("p1@example.com",),
        ("p2@example.com",),
        ("p3@example.com",),
    ]
    for record, name in zip(received, ["Ann", "Bob", "Chloé"], strict=True):
        mail = record.parsed
        assert record.mail_from == "news@shop.example"
        assert str(mail["From"]) == "The Shop <news@shop.example>"
        assert str(mail["Reply-To"]) == "help@shop.example"
        assert str(mail["Subject"]) == f"Winter sale, {name}"
        header = str(mail["List-Unsubscribe"])
        assert header.startswith("<https://shop.example/unsubscribe?token=u1.")
        url = header.strip("<>")
        token = signer.verify(url)  # signed with the example's secret, naming this recipient
        assert token.profile_id == record.rcpt_tos[0].partition("@")[0]
        assert str(mail["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"
        html = mail.get_body(("html",))
        assert html is not None
        assert f'href="{url}"' in html.get_content()  # {{ unsubscribe_url }} in the body
        assert str(mail["Message-ID"]).endswith("@shop.example>")
    out = capsys.readouterr().out
    assert "report: targeted 3, sent 3, failed 0" in out
    assert list(tmp_path.iterdir()) == []  # the SQLite file and its folder are gone


def test_on_its_own_server_it_prints_the_headers_and_unsubscribes_once(
    example: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example["main"]([])
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "the SMTP server received 3 message(s):"
    to_lines = [line.strip() for line in lines if line.strip().startswith("To:")]
    assert to_lines == [
        "To: p1@example.com  Subject: Winter sale, Ann",
        "To: p2@example.com  Subject: Winter sale, Bob",
        "To: p3@example.com  Subject: Winter sale, Chloé",
    ]
    assert out.count("List-Unsubscribe: <https://shop.example/unsubscribe?token=u1.") == 3
    assert "unsubscribe p1 from email: recorded True, the same link again: recorded False" in out
    assert "email consent of p1 is now False" in out
    assert "report feedback: {'unsubscribed': 1}" in out
    assert list(tmp_path.iterdir()) == []
