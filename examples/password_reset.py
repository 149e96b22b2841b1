"""A transactional password-reset email triggered by the host's code, with context."""

from __future__ import annotations

import pendulum

import campaignkit as ck
from campaignkit import ajo
from campaignkit.testing import ManualClock


def main() -> None:
    clock = ManualClock(pendulum.datetime(2026, 12, 1, 9, tz="UTC"))
    kit = ck.CampaignKit.in_memory(clock=clock)
    kit.access.assign("backend", ck.ProductProfile.ADMINISTRATOR)
    backend = kit.as_user("backend")

    surface = backend.create_surface(
        name="Account emails",
        channel=ck.ChannelType.EMAIL,
        settings=ck.EmailSettings(sender="no-reply@example.com"),
        category=ck.Category.TRANSACTIONAL,
    )
    reset = backend.create_campaign(
        name="Password reset",
        type=ck.CampaignType.API_TRIGGERED,
        category=ck.Category.TRANSACTIONAL,
        namespace="email",
        create_profiles=True,  # a first-time user may not have a profile yet
        actions=[
            ck.Action(
                surface.id,
                ck.EmailContent(
                    subject="Reset your password, {{ profile.firstName | default('there') }}",
                    html='<a href="{{ context.resetLink }}">Choose a new password</a>',
                ),
            )
        ],
    )
    backend.activate(reset.id)
    kit.tick()  # LIVE: accepting triggers

    execution = backend.trigger(
        reset.id,
        [
            ck.Recipient(
                user_id="ann@example.com",
                namespace="email",
                profile={"firstName": "Ann"},
                context={"resetLink": "https://example.com/reset/abc123"},
            )
        ],
        request_id="reset-abc123",
    )
    print("accepted:", execution.id, execution.status)
    kit.tick()  # delivers
    [message] = kit.channels[ck.ChannelType.EMAIL].sent
    print("sent to", message.address, "-", message.fields["subject"])
    print("html:", message.fields["html"])

    # The same request id again (a client retry) sends nothing new.
    again = backend.trigger(
        reset.id,
        [
            ck.Recipient(
                user_id="ann@example.com",
                namespace="email",
                profile={"firstName": "Ann"},
                context={"resetLink": "https://example.com/reset/abc123"},
            )
        ],
        request_id="reset-abc123",
    )
    kit.tick()
    print("retry returned the same execution:", again.id == execution.id)
    print("messages sent:", len(kit.channels[ck.ChannelType.EMAIL].sent))

    # An AJO-shaped body, forwarded unchanged.
    body = {
        "requestId": "reset-def456",
        "campaignId": reset.id,
        "recipients": [
            {
                "type": "aep",
                "userId": "bob@example.com",
                "namespace": "email",
                "context": {"resetLink": "https://example.com/reset/def456"},
            }
        ],
    }
    print("AJO response:", ajo.execute_unitary(backend, body)["executionId"])
    try:
        ajo.execute_unitary(backend, {"campaignId": reset.id, "recipients": [{"type": "csv"}]})
    except ck.ValidationError as error:
        print("AJO error:", ajo.error_response(error)["report"]["problems"])


if __name__ == "__main__":
    main()
