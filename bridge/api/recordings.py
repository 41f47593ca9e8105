"""`/uapi/recordings/{userId}[/{extension}[/{recordingId}[/file]]]`: recordings (issue 25).

GET lists (a UAPI collection: count, startIndex, filterBy phoneCallId, extension or started)
or serves one's audio, streamed from ARI with `Content-Length` and, for a `Range: bytes=...`
request, 206 with the bytes cut here (ARI itself ignores Range); DELETE removes one. The use
cases (bridge.calls.recordings) decide what the app may see.
"""

from __future__ import annotations

import re

import structlog
from aiohttp import web

from bridge.api.common import nothing, page_response
from bridge.api.context import api_prefix, base_url, current_app, services
from bridge.api.listing import Item, parse_list_query, select
from bridge.api.middleware import error_response
from bridge.ari.client import StoredFile
from bridge.directory import SELF
from bridge.domain.model import FORMATS
from bridge.domain.recordings import CONTENT_TYPES, RecordingRecord
from bridge.domain.views import iso
from bridge.errors import PbxUnavailable
from bridge.tenants import Extension

log = structlog.get_logger("bridge.recordings")

FIELDS = frozenset(
    {
        "id",
        "phoneCallId",
        "extension",
        "viewId",
        "started",
        "ended",
        "durationS",
        "format",
        "size",
        "links",
    }
)
FILTERABLE = frozenset({"phoneCallId", "extension", "started"})
_RANGE = re.compile(r"bytes=(?P<first>[0-9]{0,18})-(?P<last>[0-9]{0,18})")


def _scope(request: web.Request) -> tuple[str, list[Extension]]:
    """The path's user reference and extensions (400 user_invalid / extension_invalid)."""
    directory = services(request).directory
    app = current_app(request)
    user_ref = request.match_info["userId"]
    user = directory.resolve_user(app, user_ref, "extension_invalid")
    number = request.match_info.get("extension", SELF)
    return user_ref, directory.scope_extensions(app, user, number)


def _render(rec: RecordingRecord, extension: str, base: str) -> Item:
    self_url = f"{base}/{extension}/{rec.id}"
    item: Item = {
        "id": rec.id,
        "phoneCallId": rec.call_id,
        "extension": extension,
        "viewId": rec.view_id,
        "started": iso(rec.started),
        "ended": iso(rec.ended),
        "durationS": str(rec.duration),
        "format": rec.format,
        "links": {"self": self_url, "file": f"{self_url}/file"},
    }
    if rec.size is not None:
        item["size"] = str(rec.size)
    return item


async def list_recordings(request: web.Request) -> web.Response:
    """200 with the collection; 204 when nothing matches."""
    user_ref, exts = _scope(request)
    q = parse_list_query(
        request.query, fields=FIELDS, filterable=FILTERABLE, date_fields={"started"}
    )
    svc = services(request)
    wanted = request.match_info.get("recordingId")
    if wanted is not None:
        rec = await svc.recordings.find(exts, wanted)
        listed = [(e.number, rec) for e in exts if e.number in rec.extensions]
    else:
        listed = await svc.recordings.listed(exts)
    base = f"{base_url(request)}{api_prefix(request)}/recordings/{user_ref}"
    items = [_render(rec, ext, base) for ext, rec in listed]
    total, page = select(items, q, sort_key="started")
    self_url = base + "".join(
        f"/{request.match_info[k]}" for k in ("extension", "recordingId") if k in request.match_info
    )
    return page_response(request, total, page, q, self_url=self_url)


async def recording_file(request: web.Request) -> web.StreamResponse:
    """The audio: 200 whole, or 206 for one satisfiable byte range; never held whole."""
    _, exts = _scope(request)
    svc = services(request)
    async with svc.recordings.audio(exts, request.match_info["recordingId"]) as (rec, audio):
        cut = _range(request.headers.get("Range"), audio.length)
        if cut == "unsatisfiable":
            resp = error_response(
                416, "range_not_satisfiable", f"The file has {audio.length} bytes."
            )
            resp.headers["Content-Range"] = f"bytes */{audio.length}"
            return resp
        return await _stream(request, rec, audio, cut)


def _range(header: str | None, length: int | None) -> tuple[int, int] | str | None:
    """(first, last) of a single `bytes=` range; None: serve it whole (no Range, one this
    does not take, or the length is not known); "unsatisfiable": nothing of it exists."""
    match = _RANGE.fullmatch(header.strip()) if header and length is not None else None
    if match is None or length is None or not (match["first"] or match["last"]):
        return None
    if not match["first"]:  # the last N bytes
        n = int(match["last"])
        return (max(0, length - n), length - 1) if n > 0 and length > 0 else "unsatisfiable"
    first = int(match["first"])
    last = min(int(match["last"]), length - 1) if match["last"] else length - 1
    if match["last"] and int(match["last"]) < first:
        return None  # not a valid range: ignored (RFC 9110 section 14.2)
    return (first, last) if first < length else "unsatisfiable"


async def _stream(
    request: web.Request, rec: RecordingRecord, audio: StoredFile, cut: tuple[int, int] | str | None
) -> web.StreamResponse:
    resp = web.StreamResponse(status=200)
    resp.content_type = CONTENT_TYPES.get(rec.format, "application/octet-stream")
    resp.headers["Accept-Ranges"] = "bytes"
    resp.headers["Content-Disposition"] = f'attachment; filename="{rec.id}.{FORMATS[rec.format]}"'
    first, last = 0, (audio.length or 0) - 1
    if isinstance(cut, tuple):
        first, last = cut
        resp.set_status(206)
        resp.headers["Content-Range"] = f"bytes {first}-{last}/{audio.length}"
    if audio.length is not None:
        resp.content_length = last - first + 1
    await resp.prepare(request)
    if request.method != "HEAD":
        try:
            await _copy(resp, audio, first, None if audio.length is None else last)
        except PbxUnavailable as exc:  # headers are gone: the only way to tell is to cut
            log.warning("recording.file.cut", id=rec.id, error=str(exc))
            if request.transport is not None:
                request.transport.close()
            return resp
    await resp.write_eof()
    return resp


async def _copy(resp: web.StreamResponse, audio: StoredFile, first: int, last: int | None) -> None:
    """Writes bytes first..last (None: to the end) of the stream as they come."""
    at = 0
    async for chunk in audio.chunks:
        end = at + len(chunk)
        lo, hi = max(first - at, 0), len(chunk) if last is None else min(last + 1 - at, len(chunk))
        if lo < hi:
            await resp.write(chunk[lo:hi])
        at = end
        if last is not None and at > last:
            break


async def delete_recording(request: web.Request) -> web.Response:
    """Removes the recording from Asterisk (ARI) and the store: 204 (or `[]`)."""
    _, exts = _scope(request)
    await services(request).recordings.delete(exts, request.match_info["recordingId"])
    return nothing(request, [])


def add_routes(app: web.Application, prefix: str) -> None:
    base = f"{prefix}/recordings/{{userId}}"
    app.router.add_get(base, list_recordings)
    app.router.add_get(f"{base}/{{extension}}", list_recordings)
    app.router.add_get(f"{base}/{{extension}}/{{recordingId}}", list_recordings)
    app.router.add_delete(f"{base}/{{extension}}/{{recordingId}}", delete_recording)
    app.router.add_get(f"{base}/{{extension}}/{{recordingId}}/file", recording_file)
