"""Fixtures of the approval workflow tests: a fresh team."""

from __future__ import annotations

import pytest

from tests.unit.approval_workflow.support import Team, make_team


@pytest.fixture
def team() -> Team:
    return make_team()
