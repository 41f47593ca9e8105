"""`/uapi/faxes/{userId}/{extension}[/{faxId}[/file]]`: UAPI's Faxes service (issue 25).

POST takes `multipart/form-data`: one or more `files` parts (PDF or TIFF, any declared type:
4PSA's MCP server sends application/octet-stream) and a JSON part `request` (or `data`)
`{"recipients": [...]}`; 202 with `[{"id", "recipient"}]`, one fax per recipient. GET lists the
extension's faxes (a UAPI collection) or shows one; `.../file` serves its TIFF. The use case
(bridge.calls.faxes) decides; this module parses and renders.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, web

from bridge.api.common import json_ok, page_response
from bridge.api.context import api_prefix, base_url, current_app, services
from bridge.api.fields import numbers
from bridge.api.listing import Item, parse_list_query, select
from bridge.calls.faxes import MAX_RECIPIENTS, SendFax
from bridge.domain.faxes import FaxRecord
from bridge.domain.views import iso
from bridge.errors import invalid
from bridge.tenants import Extension

FIELDS = frozenset(
    {"id", "recipient", "status", "pages", "error", "created", "finished", "direction", "links"}
)
FILTERABLE = frozenset({"status", "direction", "recipient", "created"})
_JSON_PARTS = ("request", "data")
_MAX_JSON = 64 * 1024


async def send_fax(request: web.Request) -> web.Response:
    """202 with one `{"id", "recipient"}` per recipient."""
    svc = services(request)
    app = current_app(request)
    user = svc.directory.resolve_user(app, request.match_info["userId"], "extension_invalid")
    ext = svc.directory.resolve_extension(app, user, request.match_info["extension"])
    files, recipients = await _read_form(request, svc.config.faxes.max_bytes)
    req = SendFax(app, user, ext.number, tuple(recipients), tuple(files))
    sent = await svc.faxes.send(req)
    return json_ok([{"id": f.id, "recipient": f.recipient} for f in sent], status=202)


async def _read_form(request: web.Request, max_bytes: int) -> tuple[list[bytes], list[str]]:
    """The `files` parts (each read up to max_bytes + 1) and the recipients."""
    if not request.content_type.startswith("multipart/"):
        raise invalid("request_invalid", "Send multipart/form-data with `files` and `request`.")
    try:
        reader = await request.multipart()
    except (ValueError, AssertionError) as exc:
        raise invalid("request_invalid", f"The multipart body cannot be read: {exc}") from None
    files: list[bytes] = []
    body: Any = None
    async for part in _parts(reader):
        if part.name == "files":
            files.append(await _capped(part, max_bytes + 1))
        elif part.name in _JSON_PARTS and body is None:
            body = _json(await _capped(part, _MAX_JSON))
    recipients = _recipients(body)
    if not files:
        raise invalid("request_invalid", "No `files` part: attach the PDF or TIFF to send.")
    return files, recipients


async def _parts(reader: MultipartReader) -> Any:
    try:
        while (part := await reader.next()) is not None:
            if isinstance(part, BodyPartReader):
                yield part
    except ValueError as exc:
        raise invalid("request_invalid", f"The multipart body cannot be read: {exc}") from None


async def _capped(part: BodyPartReader, limit: int) -> bytes:
    """The part's bytes, at most `limit` (the caller tells a longer one by its length)."""
    data = bytearray()
    while len(data) < limit and (chunk := await part.read_chunk(64 * 1024)):
        data += chunk
    return bytes(data[:limit])


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise invalid(
            "fax_recipients_invalid", 'The `request` part is not JSON like {"recipients": [...]}.'
        ) from None


def _recipients(body: Any) -> list[str]:
    raw = body.get("recipients") if isinstance(body, dict) else None
    if isinstance(raw, list) and len(raw) > MAX_RECIPIENTS:
        raise invalid("fax_recipients_invalid", f"At most {MAX_RECIPIENTS} recipients.")
    if raw is None:
        raise invalid(
            "fax_recipients_invalid",
            'Give the recipients as the `request` part {"recipients": [...]}.',
        )
    return numbers(raw, "fax_recipients_invalid", "recipients")


def _extension(request: web.Request) -> tuple[str, Extension]:
    svc = services(request)
    app = current_app(request)
    user_ref = request.match_info["userId"]
    user = svc.directory.resolve_user(app, user_ref, "extension_invalid")
    return user_ref, svc.directory.resolve_extension(app, user, request.match_info["extension"])


def _render(fax: FaxRecord, base: str) -> Item:
    self_url = f"{base}/{fax.id}"
    item: Item = {
        "id": fax.id,
        "recipient": fax.recipient,
        "status": fax.status,
        "direction": fax.direction,
        "error": fax.error,
        "created": iso(fax.created),
        "links": {"self": self_url, "file": f"{self_url}/file"},
    }
    if fax.pages is not None:
        item["pages"] = str(fax.pages)
    if fax.finished is not None:
        item["finished"] = iso(fax.finished)
    return item


async def list_faxes(request: web.Request) -> web.Response:
    """200 with the collection (or one fax); 204 when nothing matches."""
    user_ref, ext = _extension(request)
    q = parse_list_query(
        request.query, fields=FIELDS, filterable=FILTERABLE, date_fields={"created"}
    )
    faxes = services(request).faxes
    wanted = request.match_info.get("faxId")
    listed = [await faxes.find(ext, wanted)] if wanted else await faxes.listed(ext)
    base = f"{base_url(request)}{api_prefix(request)}/faxes/{user_ref}/{ext.number}"
    total, page = select([_render(f, base) for f in listed], q, sort_key="created")
    self_url = f"{base}/{wanted}" if wanted else base
    return page_response(request, total, page, q, self_url=self_url)


async def fax_file(request: web.Request) -> web.StreamResponse:
    """The fax's TIFF (image/tiff); 400 fax_invalid when the spool no longer has it."""
    _, ext = _extension(request)
    faxes = services(request).faxes
    fax = await faxes.find(ext, request.match_info["faxId"])
    path = faxes.file_of(fax)
    if path is None:
        raise invalid("fax_invalid", f"The spool no longer has the file of fax {fax.id}.")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": "image/tiff",
            "Content-Disposition": f'attachment; filename="{fax.id}.tif"',
        },
    )


def add_routes(app: web.Application, prefix: str) -> None:
    base = f"{prefix}/faxes/{{userId}}/{{extension}}"
    app.router.add_post(base, send_fax)
    app.router.add_get(base, list_faxes)
    app.router.add_get(f"{base}/{{faxId}}", list_faxes)
    app.router.add_get(f"{base}/{{faxId}}/file", fax_file)
