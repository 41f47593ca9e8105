"""`POST /oauth/token.php`: the client-credentials grant (RFC 6749 section 4.4)."""

from __future__ import annotations

import asyncio
import base64
import binascii

from aiohttp import web

from bridge.api.context import services


def _oauth_error(status: int, code: str, description: str) -> web.Response:
    # OAuth clients read RFC 6749's flat shape ({"error": "invalid_client"}), not UAPI's envelope.
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="uapi-bridge"'
    return web.json_response(
        {"error": code, "error_description": description}, status=status, headers=headers
    )


def _basic_credentials(request: web.Request) -> tuple[str, str] | None:
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else None


async def token(request: web.Request) -> web.Response:
    """Trades client_id/client_secret (form body or HTTP Basic) for an expiring bearer token."""
    ctype = request.content_type
    if ctype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return _oauth_error(400, "invalid_request", "Send a form-encoded body.")
    try:
        async with asyncio.timeout(services(request).config.http.request_timeout):
            form = await request.post()
    except TimeoutError:
        return _oauth_error(408, "invalid_request", "The request body was not sent in time.")
    except (ValueError, LookupError, AssertionError, RuntimeError) as exc:
        # A multipart body with a bad boundary, a form that is not UTF-8, a charset Python
        # does not know: aiohttp raises these while it parses.
        return _oauth_error(400, "invalid_request", f"The form body cannot be read: {exc}"[:200])
    grant = str(form.get("grant_type", ""))
    if grant != "client_credentials":
        return _oauth_error(400, "unsupported_grant_type", "Only client_credentials is supported.")
    creds = _basic_credentials(request) or (
        str(form.get("client_id", "")),
        str(form.get("client_secret", "")),
    )
    svc = services(request)
    app = svc.tokens.check_client(*creds)
    if app is None:
        return _oauth_error(401, "invalid_client", "Unknown client or wrong secret.")
    issued = await svc.tokens.issue(app)
    return web.json_response(
        {
            "access_token": issued.access_token,
            "token_type": "Bearer",
            "expires_in": issued.expires_in,
        },
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


def add_routes(app: web.Application) -> None:
    app.router.add_post("/oauth/token.php", token)
