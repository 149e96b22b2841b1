"""``gate_needed`` works out when the send window opened as pendulum would.

For a UTC tick and a window without months or years it subtracts with plain
``datetime`` arithmetic; any other tick or window takes pendulum's calendar
arithmetic. Both must give the same answer at the window's edge.
"""

from __future__ import annotations

import pendulum
import pytest

from campaignkit.delivery.gate import GateRules, gate_needed

NOW = pendulum.datetime(2026, 3, 29, 1, 30, tz="UTC")  # a DST night in Europe


def _rules(window: pendulum.Duration) -> GateRules:
    return GateRules(
        marketing=False,
        campaign_zone="UTC",
        send_window=window,
        channel_rules={},
        campaign_quiet_hours=(),
        rate_limits={},
    )


@pytest.mark.parametrize(
    "window",
    [
        pendulum.duration(hours=24),
        pendulum.duration(minutes=90, seconds=1, microseconds=5),
        pendulum.duration(months=1),
        pendulum.duration(years=1, days=2),
    ],
)
@pytest.mark.parametrize("now", [NOW, NOW.in_timezone("Europe/Paris")])
def test_the_window_opens_where_pendulum_says(
    window: pendulum.Duration, now: pendulum.DateTime
) -> None:
    opened = now - window  # the reference
    rules = _rules(window)
    assert gate_needed(rules, [opened], now) is False  # at the edge: still inside
    assert gate_needed(rules, [opened.subtract(microseconds=1)], now) is True
    assert gate_needed(rules, [None, now], now) is False
