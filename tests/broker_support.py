"""How tests find the message brokers Celery runs on: Redis and RabbitMQ.

The brokers are ``CAMPAIGNKIT_TEST_REDIS`` (default
``redis://127.0.0.1:6379/0``) and ``CAMPAIGNKIT_TEST_RABBITMQ`` (default
``amqp://guest:guest@127.0.0.1:5672//``), each probed once per session (a
2 s connect timeout). Without one, a test needing it is skipped with one
line saying how to enable it, except under ``CI=true``, where it fails: CI
always exercises both (the machine starts them before every run).
"""

from __future__ import annotations

import os
from typing import Final

import pytest

BROKERS: Final = {
    "redis": ("CAMPAIGNKIT_TEST_REDIS", "redis://127.0.0.1:6379/0"),
    "rabbitmq": ("CAMPAIGNKIT_TEST_RABBITMQ", "amqp://guest:guest@127.0.0.1:5672//"),
}
"""Broker name -> (the environment variable naming it, its default URL)."""
PROBE_TIMEOUT: Final = 2.0

_probed: dict[str, str | None] = {}


def probe(url: str) -> str | None:
    """None if a broker answers at ``url``, else why not (one line)."""
    try:
        import kombu  # comes with celery (campaignkit[celery])
    except ImportError:
        return "celery is not installed (pip install -e '.[dev]')"
    try:
        with kombu.Connection(url, connect_timeout=PROBE_TIMEOUT) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        text = str(exc).strip()
        return text.splitlines()[0] if text else type(exc).__name__
    return None


def broker_url(name: str) -> str:
    """The URL of broker ``name`` (skips, or fails under CI=true, when it does not answer)."""
    variable, default = BROKERS[name]
    url = os.environ.get(variable) or default
    if url not in _probed:
        _probed[url] = probe(url)
    problem = _probed[url]
    if problem is not None:
        message = f"{name} not reachable at {url}: start it or set {variable}=... ({problem})"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return url
