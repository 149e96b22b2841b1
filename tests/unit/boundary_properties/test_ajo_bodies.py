"""Property: an AJO-style unitary or audience body gets an answer or the AJO error shape."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

import campaignkit as ck
from campaignkit import ajo
from tests.unit.boundary_properties.support import EXAMPLES, JUNK, Side, _check


def _maybe(valid: object) -> st.SearchStrategy[object]:
    """The valid value most of the time, else junk."""
    return st.one_of(st.just(valid), st.just(valid), JUNK)


@st.composite
def unitary_bodies(draw: st.DrawFn, campaign_id: str) -> object:
    """An AJO unitary body whose every field may be junk."""
    recipient = st.fixed_dictionaries(
        {
            "type": _maybe("aep"),
            "userId": _maybe("p1@example.com"),
            "namespace": _maybe("email"),
        },
        optional={
            "channelData": _maybe({"emailAddress": "p1@example.com"}),
            "profile": _maybe({"firstName": "Ann"}),
            "context": _maybe({"link": "https://example.com"}),
        },
    )
    return draw(
        st.fixed_dictionaries(
            {
                "requestId": _maybe("ajo-body"),
                "campaignId": _maybe(campaign_id),
                "recipients": st.lists(recipient, min_size=0, max_size=3) | JUNK,
            }
        )
    )


@EXAMPLES
@given(data=st.data())
def test_an_ajo_body_gets_an_answer_or_the_ajo_error_shape(
    sides: tuple[Side, Side], data: st.DataObject
) -> None:
    body = data.draw(unitary_bodies(sides[0].ids["receipt"]), label="body")
    errors: list[ck.CampaignKitError] = []

    def call(side: Side, args: dict[str, Any]) -> object:
        try:
            return ajo.execute_unitary(side.admin, args["body"])
        except ck.CampaignKitError as exc:
            errors.append(exc)
            raise

    name, _ = _check(sides, "ajo.execute_unitary", call, {"body": body})
    if name != "accepted":
        answers = [ajo.error_response(exc) for exc in errors]
        assert answers[0] == answers[1]
        assert answers[0]["status"] in {400, 403, 404, 409, 422}
        json.dumps(answers[0])


@EXAMPLES
@given(data=st.data())
def test_an_ajo_audience_body_gets_an_answer_or_an_error(
    sides: tuple[Side, Side], data: st.DataObject
) -> None:
    body = data.draw(
        st.fixed_dictionaries(
            {"campaignId": _maybe(sides[0].ids["mailing"])},
            optional={
                "requestId": _maybe("ajo-audience"),
                "context": _maybe({"offer": "WINTER"}),
                "schedule": _maybe({"executeAt": "2026-12-02T09:00:00Z"})
                | st.fixed_dictionaries({"executeAt": JUNK}),
            },
        ),
        label="body",
    )
    _check(
        sides,
        "ajo.execute_audience",
        lambda s, a: ajo.execute_audience(s.admin, a["body"]),
        {"body": body},
    )
