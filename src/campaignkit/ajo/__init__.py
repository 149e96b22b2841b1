"""AJO-compatible API-triggered executions (Interactive Message Execution API v1.0.1).

Hosts migrating from Adobe Journey Optimizer forward the same JSON bodies
unchanged and get the documented answers::

    from campaignkit import ajo

    response = ajo.execute_unitary(session, body)      # POST .../executions/unitary
    response = ajo.execute_audience(session, body)     # POST .../executions/audience
    response = ajo.execute_high_throughput(session, body)  # POST .../executions/highthroughput
    answers = ajo.execute_high_throughput_many(session, bodies)  # many, one transaction
    response = ajo.get_execution(session, execution_id)  # GET .../executions/audience/{id}
    response = ajo.get_schedule(session, schedule_id)    # GET .../executions/schedules/{id}
    response = ajo.cancel_schedule(session, schedule_id) # DELETE .../executions/schedules/{id}
    except CampaignKitError as exc: ajo.error_response(exc)

A malformed body raises ``ValidationError`` whose problems name JSON paths
(``recipients[0].type``); ``error_response`` turns any campaignkit error into
AJO's ``{type, title, status, report}`` document with the status code the
reference documents for the operation that refused. ``docs/api-triggered.md``
lists every field, limit and error, and where campaignkit differs.

Layout: ``requests`` parses bodies and checks limits, ``responses`` builds the
answers, ``errors`` the error document, ``endpoints`` the operations.
"""

from __future__ import annotations

from campaignkit.ajo.endpoints import (
    cancel_schedule,
    execute_audience,
    execute_unitary,
    execution_status,
    get_execution,
    get_schedule,
)
from campaignkit.ajo.errors import NotShown, error_response
from campaignkit.ajo.requests import (
    CHANNEL_DATA_KEYS,
    MERGE_POLICY_KEYS,
    PUSH_INFO_KEYS,
    RECIPIENT_TYPES,
    parse_recipients,
)
from campaignkit.ajo.throughput import (
    ACCEPTED,
    execute_high_throughput,
    execute_high_throughput_many,
)

__all__ = [
    "ACCEPTED",
    "CHANNEL_DATA_KEYS",
    "MERGE_POLICY_KEYS",
    "PUSH_INFO_KEYS",
    "RECIPIENT_TYPES",
    "NotShown",
    "cancel_schedule",
    "error_response",
    "execute_audience",
    "execute_high_throughput",
    "execute_high_throughput_many",
    "execute_unitary",
    "execution_status",
    "get_execution",
    "get_schedule",
    "parse_recipients",
]
