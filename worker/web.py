"""The small web app of `newswatch serve`: one-click unsubscribe and a health check.

GET  /unsubscribe?token=...   a confirmation page with one button. It changes nothing:
                              mail scanners and link previews fetch every link.
POST /unsubscribe?token=...   unsubscribes (RFC 8058 one-click: mail clients POST the
                              body "List-Unsubscribe=One-Click" to the List-Unsubscribe
                              URL; the page's button posts the same). Idempotent.
GET  /healthz                 200 {"status": "ok"}, or 503 when `healthcheck` raises.

Tokens are checked with worker.deliver.tokens (signed with settings.secret_key); a bad
token gets a 400 page. Unsubscribing itself is the caller's `unsubscribe(subscription_id,
email) -> bool` (True when it changed something), run in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from html import escape

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from worker.deliver.tokens import UnsubscribeToken, read_token
from worker.errors import PermanentError
from worker.settings import Settings

__all__ = ["create_web_app"]

_HEADERS = {
    "cache-control": "no-store",
    # The token is in the URL: keep it out of Referer headers and search indexes.
    "referrer-policy": "no-referrer",
    "x-robots-tag": "noindex",
    "x-content-type-options": "nosniff",
}

_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} · newswatch</title>
<style>
body {{ margin: 0; background: #eef1f5; color: #1f2933;
  font: 16px/1.5 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; }}
main {{ max-width: 480px; margin: 12vh auto; background: #fff; border-radius: 6px;
  padding: 32px 36px; box-shadow: 0 1px 3px rgba(19, 41, 75, .12); }}
.brand {{ font-size: 12px; font-weight: 700; letter-spacing: 2px; color: #1a5fb4;
  text-transform: uppercase; margin: 0 0 12px; }}
h1 {{ font: normal 26px/1.25 Georgia, "Times New Roman", serif; margin: 0 0 12px; color: #13294b; }}
button {{ font: inherit; font-weight: 700; color: #fff; background: #1a5fb4; border: 0;
  border-radius: 4px; padding: 10px 22px; cursor: pointer; margin-top: 8px; }}
.muted {{ color: #7b8794; font-size: 14px; }}
</style></head>
<body><main><p class="brand">newswatch</p><h1>{title}</h1>{body}</main></body></html>
"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    html = _PAGE.format(title=escape(title), body=body)
    return HTMLResponse(html, status_code=status, headers=_HEADERS)


def _bad_token() -> HTMLResponse:
    return _page(
        "This link does not work",
        "<p>The unsubscribe link is incomplete or invalid. Copy the whole link from the "
        "email, or use the unsubscribe link of a more recent message.</p>",
        400,
    )


def create_web_app(
    settings: Settings,
    unsubscribe: Callable[[str, str], bool],
    *,
    healthcheck: Callable[[], None] | None = None,
) -> Starlette:
    """The ASGI app; serve it with uvicorn (`uvicorn.run(app, host=..., port=...)`)."""

    async def token_of(request: Request, form: bool) -> UnsubscribeToken | None:
        raw = request.query_params.get("token")
        if not raw and form:
            value = (await request.form()).get("token")
            raw = value if isinstance(value, str) else None
        if not raw:
            return None
        try:
            return read_token(settings.secret_key, raw)
        except PermanentError:
            return None

    async def unsubscribe_page(request: Request) -> Response:
        token = await token_of(request, form=False)
        if token is None:
            return _bad_token()
        raw = escape(request.query_params["token"], quote=True)
        return _page(
            "Unsubscribe?",
            f"<p>Stop sending <strong>{escape(token.email)}</strong> the messages of "
            f"&ldquo;{escape(token.subscription_id)}&rdquo;?</p>"
            f'<form method="post" action="?token={raw}">'
            '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
            "<button type=submit>Unsubscribe</button></form>",
        )

    async def unsubscribe_post(request: Request) -> Response:
        token = await token_of(request, form=True)
        if token is None:
            return _bad_token()
        changed = await run_in_threadpool(unsubscribe, token.subscription_id, token.email)
        note = "" if changed else '<p class="muted">(You were already unsubscribed.)</p>'
        return _page(
            "You are unsubscribed",
            f"<p><strong>{escape(token.email)}</strong> will no longer receive "
            f"&ldquo;{escape(token.subscription_id)}&rdquo;.</p>{note}",
        )

    async def healthz(request: Request) -> Response:
        if healthcheck is not None:
            try:
                await run_in_threadpool(healthcheck)
            except Exception as exc:  # any failure means "not healthy", reported as such
                return JSONResponse({"status": "error", "error": str(exc)[:200]}, 503)
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/unsubscribe", unsubscribe_page, methods=["GET"]),
            Route("/unsubscribe", unsubscribe_post, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
        ]
    )
