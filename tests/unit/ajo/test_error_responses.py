"""Error responses: every campaignkit error turned into AJO's error document, with a status the
reference documents for the execution requests (400, 401) or 500 for campaignkit's own failures."""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import urlparse

import pytest

import campaignkit as ck
from campaignkit import ajo
from tests.unit.ajo.support import MANAGER, Env, audience_body, unitary_body

# ---------------------------------------------------------------------- error responses


ERRORS: list[tuple[ck.CampaignKitError, int]] = [
    (ck.ValidationError(["recipients[0].type must be 'aep'", "requestId is required"]), 400),
    (ck.PermissionDenied("max", "campaign.publish", "cmp_1", "MANAGER"), 401),
    (ck.NotFound("campaign", "cmp_missing"), 400),
    (ck.ConflictError("request id 'r' was already used"), 400),
    (ck.TransitionNotAllowed("cmp_1", "STOPPED", "trigger", "it must be LIVE"), 400),
    (ck.StorageError("database disk image is malformed"), 500),
    (ck.DeliveryError("no channel is wired for email"), 500),
    (ck.CampaignKitError("something else"), 500),
]


@pytest.mark.parametrize(("error", "status"), ERRORS, ids=[type(e).__name__ for e, _ in ERRORS])
def test_error_response_has_the_ajo_shape_and_a_fitting_status(
    error: ck.CampaignKitError, status: int
) -> None:
    response = ajo.error_response(error)

    assert set(response) == {"type", "title", "status", "report"}
    assert response["status"] == status
    url = urlparse(response["type"])
    assert (url.scheme, bool(url.netloc)) == ("https", True)
    assert isinstance(response["title"], str)
    assert response["title"]
    assert isinstance(response["report"], dict)
    assert json.dumps(str(error))[1:-1] in json.dumps(response["report"])
    assert json.loads(json.dumps(response)) == response


def test_a_validation_error_response_lists_every_problem() -> None:
    error = ck.ValidationError(
        ["recipients[0].type must be 'aep', not 'csv'", "campaignId is required"],
        subject="unitary execution request",
    )

    response = ajo.error_response(error)

    assert response["status"] == 400
    report = json.dumps(response["report"])
    for problem in error.problems:
        assert json.dumps(problem)[1:-1] in report


def test_an_error_report_has_additional_context() -> None:
    response = ajo.error_response(ck.ValidationError(["requestId is required"]))

    assert isinstance(response["report"]["additionalContext"], dict)


def test_real_refusals_map_to_their_statuses(env: Env) -> None:
    manager = env.kit.as_user(MANAGER)
    seen: dict[str, int] = {}
    calls: dict[str, Callable[[], object]] = {
        "malformed": lambda: ajo.execute_unitary(env.admin, {"requestId": "r"}),
        "forbidden": lambda: ajo.execute_unitary(manager, unitary_body(env)),
        "unknown campaign": lambda: ajo.execute_unitary(
            env.admin, unitary_body(env, campaignId="cmp_missing")
        ),
        "not live": lambda: ajo.execute_audience(env.admin, audience_body(env)),
    }
    env.admin.stop(env.marketing.id)

    for name, call in calls.items():
        with pytest.raises(ck.CampaignKitError) as excinfo:
            call()
        seen[name] = ajo.error_response(excinfo.value)["status"]

    assert seen == {"malformed": 400, "forbidden": 401, "unknown campaign": 400, "not live": 400}
    env.assert_nothing_happened()
