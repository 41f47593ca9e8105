"""The `Idempotency-Key` request header (IETF httpapi draft) on POST routes that create things.

The same key from the same app with the same request within 24 hours gets the first answer
again (status and body, marked `Idempotent-Replayed: true`), also after a restart; the same
key with another request is 400 `idempotency_key_reused`; a malformed key is 400
`idempotency_key_invalid`. A retry that arrives while the first is still being answered waits
for that answer (on any bridge sharing a PostgreSQL store: the key is claimed in the database;
409 `idempotency_key_in_use` if that answer takes over 30 s). Only successful answers are
kept: after an error a retry runs again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import structlog
from aiohttp import web

from bridge.api.context import current_app
from bridge.errors import ApiError, BridgeError, invalid
from bridge.store.idempotency import Answer, Keys

log = structlog.get_logger("bridge.http")
Handler = Callable[[web.Request], Awaitable[web.Response]]
HEADER = "Idempotency-Key"
_KEY = re.compile(r"[\x20-\x7e]{1,255}")
_PREFIX = re.compile(r"^/(uapi|unifiedapi)/")


KEYS = web.AppKey("idempotency_keys", Keys)


def parse_key(raw: str) -> str:
    """The key: printable ASCII, 1-255 characters; a structured-field string ("...") too."""
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not _KEY.fullmatch(key):
        raise invalid(
            "idempotency_key_invalid", f"{HEADER} must be 1-255 printable ASCII characters."
        )
    return key


def fingerprint(request: web.Request, body: bytes) -> str:
    """What makes two requests the same: method, path (either prefix, with or without the
    trailing slash), query (not the token) and body (as JSON, if it is JSON)."""
    path = _PREFIX.sub("/", request.path).rstrip("/")
    query = sorted((k, v) for k, v in request.query.items() if k != "accessRequestToken")
    try:
        content: Any = json.loads(body) if body else None
    except ValueError:
        content = body.decode("latin-1")
    text = json.dumps([request.method, path, query, content], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def idempotent(handler: Handler) -> Handler:
    """Wraps a route handler so that it honours Idempotency-Key."""

    async def wrapped(request: web.Request) -> web.Response:
        raw = request.headers.get(HEADER)
        if raw is None:
            return await handler(request)
        key = (current_app(request).name, parse_key(raw))
        mine = fingerprint(request, await request.read())
        keys = request.app[KEYS]
        running = keys.running.get(key)
        if running is not None:  # the first is being answered: its answer is ours
            return _replay(await asyncio.shield(running), mine)
        future = keys.running[key] = asyncio.get_running_loop().create_future()
        try:
            answer, response = await _answer(request, handler, keys, key, mine)
        except Exception as exc:  # the waiting retries get the same error
            future.set_exception(exc)
            future.exception()  # retrieved: there may be nobody waiting
            raise
        else:
            future.set_result(answer)
        finally:
            if not future.done():  # cancelled: so are the retries waiting for it
                future.cancel()
            del keys.running[key]
        return _replay(answer, mine) if response is None else response

    return wrapped


async def _answer(
    request: web.Request, handler: Handler, keys: Keys, key: tuple[str, str], mine: str
) -> tuple[Answer, web.Response | None]:
    """The stored answer (None: replay it), or the handler's (stored if it succeeded)."""
    stored = await keys.answers.find(*key, keys.clock())
    if stored is not None:
        return stored, None
    if keys.answers.db.shared:
        stored = await _claim(keys, key, mine)
        if stored is not None:
            return stored, None
    try:
        response = await handler(request)
    except BaseException:
        await _unclaim(keys, key)
        raise
    if response.status >= 300:
        await _unclaim(keys, key)
    body = response.body if isinstance(response.body, bytes) else b""
    answer = Answer(mine, response.status, response.content_type, body)
    if response.status < 300:
        try:
            await keys.answers.save(*key, answer, keys.clock())
        except BridgeError:  # the request was carried out: answer it all the same
            log.exception("http.idempotency.store.failed", effect="a retry runs again")
    return answer, response


async def _claim(keys: Keys, key: tuple[str, str], mine: str) -> Answer | None:
    """Several bridges: claims the key (None), or returns the answer of the bridge holding it.
    A claim that went away unanswered (that request failed) is tried again."""
    for _ in range(2):
        if await keys.answers.claim(*key, mine, keys.clock()):
            return None
        answer = await keys.answers.wait(*key, keys.clock())
        if answer is not None:
            return answer
    raise ApiError(
        409,
        "idempotency_key_in_use",
        f"A request with this {HEADER} is still being answered; retry later.",
    )


async def _unclaim(keys: Keys, key: tuple[str, str]) -> None:
    if keys.answers.db.shared:
        try:
            await keys.answers.drop(*key)
        except BridgeError:  # the claim is abandoned after CLAIM_WINDOW instead
            log.exception("http.idempotency.unclaim.failed")


def _replay(answer: Answer, mine: str) -> web.Response:
    if answer.fingerprint != mine:
        raise invalid(
            "idempotency_key_reused", f"This {HEADER} was used for another request within 24 hours."
        )
    log.info("http.idempotency.replayed", status=answer.status)
    return web.Response(
        status=answer.status,
        body=answer.body or None,
        content_type=answer.content_type,
        headers={"Idempotent-Replayed": "true"},
    )
