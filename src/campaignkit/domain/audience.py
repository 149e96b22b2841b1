"""Audience readiness as the domain sees it."""

from __future__ import annotations

from campaignkit.domain.text_enum import TextEnum


class AudienceStatus(TextEnum):
    """Whether an audience can be used by an activation."""

    READY = "READY"
    """Its members can be streamed."""
    NOT_READY = "NOT_READY"
    """It exists but is still being computed."""

    def __str__(self) -> str:
        return self.value
