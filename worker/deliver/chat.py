"""Chat and push channels through apprise URLs (Slack, Teams, Discord, ntfy, Matrix, ...).

Apprise hides each service's HTTP behind one call that mostly says "it worked" or "it
did not": it does not tell a rate limit from a revoked token. So a failed send is a
TransientError (retried with backoff, then recorded as dead, where the captured apprise
log in the error text tells a person what went wrong), and only a URL apprise cannot
parse at all is a PermanentError. apprise is imported on first use (it loads plugins).
"""

from __future__ import annotations

import logging
from typing import Any, Literal

from worker.errors import PermanentError, TransientError

__all__ = ["apprise_url_problem", "send_apprise"]

_FORMATS = ("text", "markdown", "html")


def _instance(url: str) -> Any:
    import apprise

    app = apprise.Apprise()
    if not app.add(url):
        raise PermanentError("apprise cannot use this URL (unknown service or malformed)")
    return app


def apprise_url_problem(url: str) -> str | None:
    """For `newswatch check`: None if apprise accepts the URL, else why not (no sending)."""
    try:
        _instance(url)
    except PermanentError as exc:
        return str(exc)
    return None


def send_apprise(
    url: str,
    title: str,
    body: str,
    *,
    body_format: Literal["text", "markdown", "html"] = "text",
) -> None:
    """Send one notification. Raises PermanentError for an unusable URL, TransientError
    when apprise reports failure (with its log lines, secrets as apprise masks them)."""
    import apprise

    if body_format not in _FORMATS:
        raise ValueError(f"body_format must be one of {_FORMATS}")
    app = _instance(url)
    with apprise.LogCapture(level=logging.WARNING) as log:
        result = app.notify(body=body, title=title, body_format=body_format)
        captured = log.getvalue().strip()
    ok = bool(result)
    if hasattr(result, "close"):  # apprise >= 1.10 returns a result holding log files
        result.close()
    if not ok:
        last = captured.splitlines()[-3:] if captured else []
        detail = " | ".join(line.split(" - ", 2)[-1] for line in last)
        raise TransientError(f"apprise could not deliver: {detail or 'no details given'}")
