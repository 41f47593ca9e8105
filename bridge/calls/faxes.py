"""Faxes (issue 25): sending one document to several recipients, listing and serving faxes.

A request is checked whole before anything reaches Asterisk (400 `extension_invalid`,
`fax_recipients_invalid`, `fax_file_invalid`): the path's extension is the app's, every
recipient an extension of its organization or a public number, the documents PDFs (turned into
one G3 TIFF by ghostscript) or one TIFF, within `faxes.max_bytes` and `faxes.max_pages`. Then
the TIFF is written into `faxes.spool` once per fax, the faxes stored `queued`, and each sent
with one Originate into extensions_uapi.conf's uapi-fax-call / uapi-fax-send (`sending`). The
result comes back as a UserEvent (`UapiFax`, `UapiFaxReceived`), queued by `on_event` and
written by `run_forever`. A `fax` extension recipient is dialled as a Local channel into
uapi-fax-receive, which stores what it receives as a fax of that extension, direction `in`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import structlog

from bridge.ami.message import ActionFields, AmiMessage
from bridge.ami.ports import AmiPort
from bridge.calls.nodes import Nodes
from bridge.calls.resolve import Resolver
from bridge.config import FaxesConfig
from bridge.directory import Directory
from bridge.domain import faxes as fx
from bridge.domain.faxes import FaxRecord
from bridge.errors import ApiError, BridgeError, invalid
from bridge.ghostscript import ConverterMissing, DocumentRejected, pdfs_to_tiff
from bridge.store.faxes import FaxStore
from bridge.tenants import App, Extension, ExtensionType, User

log = structlog.get_logger("bridge.faxes")
MAX_RECIPIENTS = 16  # as many as a make-call view's destinations (api.fields.MAX_NUMBERS)


@dataclass(frozen=True)
class SendFax:
    """A fax request, parsed: the path's user and extension, recipients and documents."""

    app: App
    user: User | None
    extension: str
    recipients: tuple[str, ...]
    documents: tuple[bytes, ...]


@dataclass(frozen=True)
class _Outgoing:
    record: FaxRecord
    target: str
    receiver: Extension | None  # a `fax` extension recipient


class Faxes:
    """The faxes use cases over the store, the directory and each node's AMI link."""

    def __init__(
        self,
        store: FaxStore,
        nodes: Nodes,
        directory: Directory,
        config: FaxesConfig,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.nodes = nodes
        self.directory = directory
        self.config = config
        self.clock = clock
        self.convert = pdfs_to_tiff
        self._results: asyncio.Queue[AmiMessage] = asyncio.Queue()

    # -- sending -------------------------------------------------------------------------------

    async def send(self, req: SendFax) -> list[FaxRecord]:
        """Checks everything, stores the faxes and hands each to Asterisk."""
        ext = self.directory.resolve_extension(req.app, req.user, req.extension)
        node = self.directory.node_of(ext)
        outgoing = self._plan(req, ext, node)
        tiff, pages = await self._document(req.documents)
        link = self.nodes.live(node).pbx
        now = self.clock()
        outgoing = [
            replace(o, record=replace(o.record, pages=pages, created=now)) for o in outgoing
        ]
        await asyncio.to_thread(self._spool, tiff, [o.record.file for o in outgoing])
        await self.store.add_all([o.record for o in outgoing])
        sent = []
        for o in outgoing:
            sent.append(await self._originate(link, o, ext))
        return sent

    def _spool(self, tiff: bytes, names: list[str]) -> None:
        """Writes the TIFF once per fax into faxes.spool (made if missing)."""
        spool = Path(self.config.spool)
        spool.mkdir(parents=True, exist_ok=True)
        for name in names:
            (spool / name).write_bytes(tiff)

    def _plan(self, req: SendFax, ext: Extension, node: str) -> list[_Outgoing]:
        if not req.recipients or len(req.recipients) > MAX_RECIPIENTS:
            raise invalid(
                "fax_recipients_invalid",
                f"Give 1 to {MAX_RECIPIENTS} recipients (got {len(req.recipients)}).",
            )
        org = self.directory.organization_of_user(self.directory.owner(ext))
        res = Resolver(self.directory, req.app, req.user)
        out = []
        for number in req.recipients:
            fax_id = fx.new_fax_id()
            receiver = res.local(number, org)
            if receiver is not None and receiver.type == ExtensionType.FAX:
                target = "Local/s@uapi-fax-receive"
            else:
                receiver = None
                target = res.target(number, org, node, "fax_recipients_invalid", "recipient")
            record = FaxRecord(
                fax_id,
                ext.number,
                fx.OUT,
                number,
                fx.QUEUED,
                None,
                "",
                0.0,
                None,
                node,
                f"{fax_id}.tif",
            )
            out.append(_Outgoing(record, target, receiver))
        return out

    async def _document(self, documents: Iterable[bytes]) -> tuple[bytes, int]:
        """The TIFF to send and its pages (400 fax_file_invalid)."""
        docs = list(documents)
        for i, doc in enumerate(docs, 1):
            if not doc:
                raise invalid("fax_file_invalid", f"File {i} is empty.")
            if len(doc) > self.config.max_bytes:
                raise invalid(
                    "fax_file_invalid",
                    f"File {i} is over faxes.max_bytes ({self.config.max_bytes} bytes).",
                )
            if fx.kind_of(doc) is None:
                raise invalid("fax_file_invalid", f"File {i} is neither a PDF nor a TIFF.")
        kinds = {fx.kind_of(d) for d in docs}
        if (kinds == {fx.TIFF} and len(docs) > 1) or len(kinds) > 1:
            raise invalid("fax_file_invalid", "Send PDFs, or one TIFF: TIFFs are not joined.")
        tiff = docs[0] if kinds == {fx.TIFF} else await self._converted(docs)
        pages = fx.tiff_pages(tiff)
        if pages is None:
            raise invalid("fax_file_invalid", "The TIFF cannot be read.")
        if pages > self.config.max_pages:
            raise invalid(
                "fax_file_invalid",
                f"The fax has more than faxes.max_pages ({self.config.max_pages}) pages.",
            )
        return tiff, pages

    async def _converted(self, pdfs: list[bytes]) -> bytes:
        try:
            return await self.convert(pdfs, self.config.max_pages)
        except DocumentRejected as exc:
            raise invalid("fax_file_invalid", f"A PDF cannot be read: {exc}") from None
        except ConverterMissing as exc:
            raise ApiError(501, "request_not_implemented", str(exc)) from None

    async def _originate(self, link: AmiPort, o: _Outgoing, ext: Extension) -> FaxRecord:
        rec = o.record
        try:
            await link.send(self._action(o, ext))
        except BridgeError as exc:
            log.warning("fax.originate.failed", id=rec.id, error=str(exc))
            await self.store.set_status(rec.id, fx.FAILED, error=str(exc), finished=self.clock())
            return replace(rec, status=fx.FAILED, error=str(exc))
        await self.store.set_status(rec.id, fx.SENDING)
        log.info("fax.sending", id=rec.id, extension=ext.number, recipient=rec.recipient)
        return replace(rec, status=fx.SENDING)

    def _action(self, o: _Outgoing, ext: Extension) -> ActionFields:
        rec, spool = o.record, self.config.pbx_spool
        variables = [
            f"UAPI_FAX_ID={rec.id}",
            f"UAPI_FAX_FILE={spool}/{rec.file}",
            f"UAPI_FAX_TARGET={o.target}",
            f"UAPI_WAIT={self.config.wait}",
        ]
        if o.receiver is not None:
            in_id = fx.new_fax_id()
            variables += [
                f"__UAPI_FAX_IN_ID={in_id}",
                f"__UAPI_FAX_IN_FILE={spool}/{in_id}.tif",
                f"__UAPI_FAX_RECEIVER={o.receiver.number}",
                f"__UAPI_FAX_SENDER={ext.number}",
            ]
        return {
            "Action": "Originate",
            "Channel": "Local/s@uapi-fax-call/n",
            "Context": "uapi-fax-send",
            "Exten": "s",
            "Priority": "1",
            "Async": "true",
            "ChannelId": rec.id,
            "OtherChannelId": f"{rec.id}-2",
            "Timeout": str((self.config.wait + 10) * 1000),
            "CallerID": ext.caller_id,
            "Variable": variables,
        }

    # -- results (extensions_uapi.conf's UserEvents) -------------------------------------------

    def on_event(self, message: AmiMessage) -> None:
        """An AMI event: the faxes' UserEvents are queued for `run_forever`."""
        if message.get("Event") == "UserEvent" and str(message.get("UserEvent", "")) in (
            "UapiFax",
            "UapiFaxReceived",
        ):
            self._results.put_nowait(message)

    async def run_forever(self) -> None:
        while True:
            message = await self._results.get()
            try:
                await self.apply(message)
            except BridgeError:
                log.exception("fax.result.write_failed")

    async def apply(self, message: AmiMessage) -> None:
        """Stores what one UserEvent says."""
        fax_id = str(message.get("FaxId", "")).strip()
        if not fx.is_fax_id(fax_id):
            return
        status, pages = str(message.get("Status", "")), fx.page_count(str(message.get("Pages", "")))
        error = "" if status.strip().upper() == "SUCCESS" else str(message.get("Error", ""))
        if message.get("UserEvent") == "UapiFax":
            await self.store.set_status(
                fax_id, fx.outcome(status), error=error.strip(), pages=pages, finished=self.clock()
            )
            log.info("fax.finished", id=fax_id, status=fx.outcome(status), pages=pages)
            return
        await self._received(message, fax_id, status, pages, error)

    async def _received(
        self, message: AmiMessage, fax_id: str, status: str, pages: int | None, error: str
    ) -> None:
        receiver = self.directory.extensions.get(str(message.get("Receiver", "")).strip())
        if receiver is None or receiver.type != ExtensionType.FAX:
            return
        now = self.clock()
        rec = FaxRecord(
            fax_id,
            receiver.number,
            fx.IN,
            receiver.number,
            fx.received_outcome(status),
            pages,
            error.strip(),
            now,
            now,
            self.directory.node_of(receiver),
            f"{fax_id}.tif",
        )
        if await self.store.add(rec):
            log.info("fax.received", id=fax_id, extension=receiver.number, pages=pages)

    # -- reading -------------------------------------------------------------------------------

    async def listed(self, ext: Extension) -> list[FaxRecord]:
        return await self.store.listed([ext.number])

    async def find(self, ext: Extension, fax_id: str) -> FaxRecord:
        """The fax, if it is `ext`'s; else 400 fax_invalid."""
        rec = await self.store.get(fax_id) if fx.is_fax_id(fax_id) else None
        if rec is None or rec.extension != ext.number:
            raise invalid("fax_invalid", f"Unknown fax id {fax_id[:40]!r}.")
        return rec

    def file_of(self, rec: FaxRecord) -> Path | None:
        """The fax's TIFF in the spool, if it is there."""
        path = Path(self.config.spool) / rec.file
        return path if path.is_file() else None
