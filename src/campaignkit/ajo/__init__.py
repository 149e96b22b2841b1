"""AJO-compatible payloads for API-triggered campaigns.

Hosts migrating from Adobe Journey Optimizer's Interactive Message Execution
API forward the same JSON bodies unchanged::

    from campaignkit import ajo

    response = ajo.execute_unitary(session, body)      # POST .../executions/unitary
    response = ajo.execute_audience(session, body)     # POST .../executions/audience
    response = ajo.execution_status(session, execution_id)
    response = ajo.cancel_schedule(session, schedule_id)
    except CampaignKitError as exc: ajo.error_response(exc)

A malformed body raises ``ValidationError`` whose problems name JSON paths
(``recipients[0].type``); ``error_response`` turns any campaignkit error into
AJO's ``{type, title, status, report}`` shape.

Layout: ``requests`` parses bodies and checks limits, ``responses`` builds the
answers, ``errors`` the error document, ``endpoints`` the operations.
"""

from __future__ import annotations

from campaignkit.ajo.endpoints import (
    cancel_schedule,
    execute_audience,
    execute_unitary,
    execution_status,
)
from campaignkit.ajo.errors import error_response
from campaignkit.ajo.requests import CHANNEL_DATA_KEYS, RECIPIENT_TYPES, parse_recipients

__all__ = [
    "CHANNEL_DATA_KEYS",
    "RECIPIENT_TYPES",
    "cancel_schedule",
    "error_response",
    "execute_audience",
    "execute_unitary",
    "execution_status",
    "parse_recipients",
]
