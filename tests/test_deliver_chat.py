"""apprise channels against a real HTTP receiver (apprise's json:// service posts JSON)."""

from __future__ import annotations

import json

import pytest

from tests.support.webhookreceiver import Reply, WebhookReceiver, webhook_receiver  # noqa: F401
from worker.deliver.chat import apprise_url_problem, send_apprise
from worker.errors import PermanentError, TransientError

# apprise itself still imports the deprecated imghdr module.
pytestmark = pytest.mark.filterwarnings("ignore:'imghdr' is deprecated:DeprecationWarning")


def json_url(receiver: WebhookReceiver) -> str:
    return f"json://127.0.0.1:{receiver.port}/chat"


def test_a_notification_is_posted(webhook_receiver: WebhookReceiver) -> None:  # noqa: F811
    send_apprise(json_url(webhook_receiver), "Leapmotor: new dealers", "Body of the alert")
    [request] = webhook_receiver.requests
    assert request.path == "/chat"
    sent = json.loads(request.body)
    assert sent["title"] == "Leapmotor: new dealers"
    assert sent["message"] == "Body of the alert"


def test_a_failing_service_is_transient_with_details(
    webhook_receiver: WebhookReceiver,  # noqa: F811
) -> None:
    webhook_receiver.script(Reply(503, body=b"maintenance"))
    with pytest.raises(TransientError, match="apprise could not deliver"):
        send_apprise(json_url(webhook_receiver), "title", "body")
    assert len(webhook_receiver.requests) >= 1


def test_an_unusable_url_is_permanent() -> None:
    with pytest.raises(PermanentError, match="apprise cannot use this URL"):
        send_apprise("nosuchservice://whatever", "title", "body")
    assert apprise_url_problem("nosuchservice://whatever") is not None
    assert apprise_url_problem("json://127.0.0.1:9/x") is None
    with pytest.raises(ValueError):
        send_apprise("json://127.0.0.1:9/x", "t", "b", body_format="rtf")  # type: ignore[arg-type]
