"""An AMI link to one Asterisk node (one per node of `ami:`): connect, log in, filter, resync,
keep alive, reconnect.

Implements `bridge.ami.ports.AmiPort`, the only face of it the rest of the bridge sees. The
connection, framing (`framing.py`), action correlation (`protocol.py`) and reconnect logic are ours
because panoramisk's have faults: no action timeouts, actions re-sent after a reconnect, unchecked
keep-alive, lost frames (panoramisk parses only odd frames, inside `framing.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import structlog

from bridge.ami.framing import Framer, Malformed
from bridge.ami.message import ActionFields, AmiMessage
from bridge.ami.pacing import Pacer
from bridge.ami.ports import AmiStats, ConnectHandler, DisconnectHandler, EventHandler
from bridge.ami.protocol import (
    ActionIds,
    Correlator,
    action_name,
    backoff_delay,
    encode_action,
    event_filters,
)
from bridge.config import DEFAULT_NODE, AmiConfig
from bridge.errors import AmiActionFailed, AmiActionTimeout, PbxUnavailable
from bridge.supervisor import Spawn

DEFAULT_EVENT_CLASSES = ("call", "system")  # VarSet/Newexten are `dialplan`: never asked for
_READ_SIZE = 64 * 1024
_CLOSE_GRACE = 1.0

log = structlog.get_logger(__name__)


class _AttemptFailed(Exception):
    """A connection attempt ended before the link was usable; `event` is the log event."""

    def __init__(self, event: str, reason: str) -> None:
        super().__init__(reason)
        self.event = event
        self.reason = reason


@dataclass(eq=False)
class _Link:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    framer: Framer = field(default_factory=Framer)
    answers: Correlator = field(default_factory=Correlator)
    lost: str | None = None  # why the link is dead; None while it is usable
    reads: int = 0  # socket reads so far: the keepalive's proof that Asterisk still talks


class AmiClient:
    """A self-healing AMI connection with timed, never re-sent actions and ordered events."""

    def __init__(
        self,
        config: AmiConfig,
        *,
        events: Collection[str],
        name: str = "ami",
        event_classes: Collection[str] = DEFAULT_EVENT_CLASSES,
    ) -> None:
        self._config = config
        named = config.name != DEFAULT_NODE  # one of several nodes: say which in tasks, errors
        self._task = f"ami-link:{config.name}" if named else "ami-link"
        self._where = f" node {config.name!r}" if named else ""
        self._filters = event_filters(events)
        self._classes = ",".join(event_classes)
        self._ids = ActionIds(name)
        self._rng = random.Random()  # noqa: S311 - jitter, not cryptography
        self._name = name
        self._event_handlers: list[EventHandler] = []
        self._connect_handlers: list[ConnectHandler] = []
        self._disconnect_handlers: list[DisconnectHandler] = []
        self._snapshot_hooks: list[Callable[[], None]] = []
        self._ready: _Link | None = None  # the logged-in link, if any
        self._up = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._logins = 0
        self.stats = AmiStats()
        self.pacer = Pacer(
            config.originate_rate, config.originate_queue, node=config.name if named else ""
        )
        self.last_failure: str | None = None  # why the last connection attempt failed
        self._failed = asyncio.Event()  # set by each failed attempt

    @property
    def _log(self) -> Any:
        """Looked up at each use, so that the module logger can be swapped (tests)."""
        return log.bind(ami=self._name)

    # -- public API ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True only while logged in on a live link."""
        return self.stats.connected

    def add_event_handler(self, handler: EventHandler) -> None:
        """`handler(message)` runs for every event that does not answer an action, in order."""
        self._event_handlers.append(handler)

    def add_connect_handler(self, handler: ConnectHandler) -> None:
        """`await handler(channels)` runs after every login with the CoreShowChannel events."""
        self._connect_handlers.append(handler)

    def add_snapshot_hook(self, hook: Callable[[], None]) -> None:
        """`hook()` runs just before the CoreShowChannels of each login is sent: events that
        arrive after it are newer than the snapshot the connect handlers get."""
        self._snapshot_hooks.append(hook)

    def add_disconnect_handler(self, handler: DisconnectHandler) -> None:
        """`handler(reason)` runs when a logged-in link is lost (or closed)."""
        self._disconnect_handlers.append(handler)

    async def start(self, spawn: Spawn | None = None) -> None:
        """Starts the background task that connects and reconnects forever (through `spawn`,
        a supervisor's, when given)."""
        if self._runner is None:
            self._runner = (
                spawn(self._task, self._run)
                if spawn is not None
                else asyncio.create_task(self._run(), name=self._task)
            )

    async def close(self) -> None:
        """Logs off, stops the background task and fails every waiting action."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        link = self._ready
        if link is not None and link.lost is None:
            link.writer.write(encode_action({"Action": "Logoff"}, self._ids()))
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
        self._log.info("ami.closed")

    async def wait_connected(self, timeout: float) -> bool:  # noqa: ASYNC109 - public API
        """Waits up to `timeout` seconds for a login; True if logged in."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._up.wait()
        return self.connected

    async def wait_login(self, timeout: float) -> str | None:  # noqa: ASYNC109 - public API
        """Waits for a login or for a failed attempt (a one-shot command, not the daemon):
        None once logged in, else why not."""
        self._failed.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                up = asyncio.ensure_future(self._up.wait())
                failed = asyncio.ensure_future(self._failed.wait())
                try:
                    await asyncio.wait({up, failed}, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    up.cancel()
                    failed.cancel()
        if self.connected:
            return None
        return self.last_failure or f"no login within {timeout:g} s"

    async def send(
        self,
        action: ActionFields,
        timeout: float | None = None,  # noqa: ASYNC109 - the API
    ) -> AmiMessage:
        """Writes `action` and returns its `Response:` message.

        Raises AmiInjection (nothing written), PbxUnavailable (not connected, or link lost before
        the answer), AmiActionTimeout, or AmiActionFailed (`Response: Error`, or an event-list
        answer: use `send_list` for those).
        """
        if action_name(action) != "Originate":
            answer: AmiMessage = await self._call(self._ready, action, timeout, listing=False)
            return answer
        encode_action(action, "-")  # AmiInjection now, not after waiting for a turn
        await self._paced()
        paced: AmiMessage = await self._call(self._ready, action, timeout, listing=False)
        return paced

    async def _paced(self) -> None:
        """Waits for an Originate's turn (ami.originate_rate); PbxBusy if the queue is full."""
        try:
            self.stats.originate_queue = self.pacer.waiting + 1
            async with self.pacer.turn():
                pass
        finally:
            self.stats.originate_queue = self.pacer.waiting

    async def send_list(
        self,
        action: ActionFields,
        timeout: float | None = None,  # noqa: ASYNC109 - the API
    ) -> list[AmiMessage]:
        """Writes a list action and returns the events it produced, without the `...Complete`."""
        items: list[AmiMessage] = await self._call(self._ready, action, timeout, listing=True)
        return items

    # -- actions ---------------------------------------------------------------------------

    async def _call(
        self, link: _Link | None, action: ActionFields, wait: float | None, *, listing: bool
    ) -> Any:
        action_id = self._ids()
        payload = encode_action(action, action_id)  # AmiInjection before anything is written
        name = action_name(action)
        node = self._where
        if link is None or link.lost is not None:
            raise PbxUnavailable(f"{name}: not connected to Asterisk{node}")
        limit = self._config.action_timeout if wait is None else wait
        future = link.answers.expect(action_id, name, listing=listing)
        try:
            link.writer.write(payload)
            self.stats.actions_sent += 1
            async with asyncio.timeout(limit):
                return await future
        except TimeoutError:
            self.stats.actions_timed_out += 1
            raise AmiActionTimeout(
                f"{name}: no answer from Asterisk{node} within {limit:g} s"
            ) from None
        except PbxUnavailable as exc:  # the link was lost while the action waited
            if node and type(exc) is PbxUnavailable:
                raise PbxUnavailable(f"{exc} (Asterisk{node})") from exc
            raise
        finally:
            link.answers.forget(action_id)
            if future.done() and not future.cancelled():
                future.exception()  # retrieved: no "exception was never retrieved" warning

    # -- connection life cycle -------------------------------------------------------------

    async def _run(self) -> None:
        attempt = 1
        while True:
            try:
                reason = await self._session(attempt)
            except _AttemptFailed as exc:
                self.last_failure = f"{exc.event}: {exc.reason}"
                self._failed.set()
                delay = self._backoff(attempt)
                self._log.warning(
                    exc.event, attempt=attempt, delay=round(delay, 3), reason=exc.reason
                )
                attempt += 1
            except Exception:  # noqa: BLE001 - a bug here must not end the reconnect loop
                delay = self._backoff(attempt)
                self._log.exception("ami.session.crashed", attempt=attempt, delay=round(delay, 3))
                attempt += 1
            else:
                attempt = 1
                delay = self._backoff(attempt)
                self._log.warning("ami.disconnected", reason=reason, delay=round(delay, 3))
            await asyncio.sleep(delay)

    def _backoff(self, attempt: int) -> float:
        cfg = self._config
        return backoff_delay(attempt, cfg.reconnect_min, cfg.reconnect_max, self._rng)

    async def _session(self, attempt: int) -> str:
        """One connection: returns why a logged-in link ended, or raises _AttemptFailed."""
        self.stats.connect_attempts += 1
        cfg = self._config
        self._log.info("ami.connect.started", host=cfg.host, port=cfg.port, attempt=attempt)
        link = await self._open()
        tasks = [asyncio.create_task(self._read(link), name="ami-reader")]
        logged_in = False
        try:
            await self._login(link)
            logged_in = True
            self._on_login(link, attempt)
            tasks.append(asyncio.create_task(self._keepalive(link), name="ami-keepalive"))
            await self._setup(link)
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            self._drop(link, "AMI link tasks ended")
        except _AttemptFailed as exc:
            self._drop(link, exc.reason)
            raise
        finally:
            self._drop(link, "client closed", graceful=True)
            await self._teardown(link, tasks, logged_in=logged_in)
        return link.lost or "unknown"

    async def _open(self) -> _Link:
        cfg = self._config
        try:
            async with asyncio.timeout(cfg.action_timeout):
                reader, writer = await asyncio.open_connection(cfg.host, cfg.port)
        except OSError as exc:  # TimeoutError is an OSError
            raise _AttemptFailed("ami.connect.failed", _describe(exc)) from None
        return _Link(reader, writer)

    async def _login(self, link: _Link) -> None:
        cfg = self._config
        login = {
            "Action": "Login",
            "Username": cfg.username,
            "Secret": cfg.secret,
            "Events": self._classes,
        }
        try:
            await self._call(link, login, None, listing=False)
        except AmiActionFailed as exc:
            reason = f"{exc.message} (user {cfg.username})"
            raise _AttemptFailed("ami.login.failed", reason) from None
        except PbxUnavailable as exc:
            raise _AttemptFailed("ami.connect.failed", f"during login: {exc}") from None

    def _on_login(self, link: _Link, attempt: int) -> None:
        if self._logins:
            self.stats.reconnects += 1
        self._logins += 1
        self._ready = link
        self.stats.connected = True
        self._up.set()
        self._log.info(
            "ami.login.succeeded",
            version=link.framer.version,
            attempt=attempt,
            reconnects=self.stats.reconnects,
        )

    async def _setup(self, link: _Link) -> None:
        """After login: event filters, then the channel snapshot for the connect handlers."""
        try:
            await self._add_filters(link)
            for hook in tuple(self._snapshot_hooks):
                hook()
            channels: list[AmiMessage] = await self._call(
                link, {"Action": "CoreShowChannels"}, None, listing=True
            )
        except AmiActionFailed as exc:
            raise _AttemptFailed("ami.resync.failed", str(exc)) from None
        except PbxUnavailable as exc:
            raise _AttemptFailed("ami.connect.failed", f"after login: {exc}") from None
        channels = [m for m in channels if m.event == "coreshowchannel"]
        for handler in tuple(self._connect_handlers):
            try:
                await handler(list(channels))
            except Exception:  # noqa: BLE001 - one handler's bug must not stop the others (logged)
                self._log.exception("ami.handler.failed", kind="connect", handler=_name(handler))

    async def _add_filters(self, link: _Link) -> None:
        for regex in self._filters:
            action = {"Action": "Filter", "Operation": "Add", "Filter": regex}
            try:
                await self._call(link, action, None, listing=False)
            except AmiActionFailed as exc:
                self._log.warning(
                    "ami.filter.failed",
                    reason=exc.message,
                    effect="every event of the subscribed classes is sent",
                )
                return

    async def _keepalive(self, link: _Link) -> None:
        """Pings every `ping_interval`; no answer within `ping_timeout`, and nothing else read
        meanwhile, means the link is dead. A Pong queued behind a backlog of events the bridge
        has not read yet is late, not lost: dropping the link then would add a resync to the
        backlog (bench/scale.py saw 50 nodes reconnect over and over that way)."""
        cfg = self._config
        while True:
            await asyncio.sleep(cfg.ping_interval)
            reads = link.reads
            try:
                await self._call(link, {"Action": "Ping"}, cfg.ping_timeout, listing=False)
            except AmiActionTimeout:
                if link.reads != reads:
                    self._log.info(
                        "ami.ping.late",
                        timeout=cfg.ping_timeout,
                        effect="events still arrive: the link is kept",
                    )
                    continue
                self._log.warning("ami.ping.timeout", timeout=cfg.ping_timeout)
                self._drop(link, f"no answer to Ping within {cfg.ping_timeout:g} s")
                return
            except AmiActionFailed:
                continue  # an answer, even an error, proves the link is alive
            except PbxUnavailable:
                return

    # -- reading ---------------------------------------------------------------------------

    async def _read(self, link: _Link) -> None:
        reason = "connection closed by Asterisk"
        try:
            while data := await link.reader.read(_READ_SIZE):
                link.reads += 1
                if not self._feed(link, data):
                    reason = "frame too large"
                    break
        except OSError as exc:
            reason = f"connection error: {_describe(exc)}"
        except Exception:  # noqa: BLE001 - a bug of ours: give the link up, not go deaf
            self._log.exception("ami.session.crashed", where="reader")
            reason = "reader crashed"
        self._drop(link, reason)

    def _feed(self, link: _Link, data: bytes) -> bool:
        """Dispatches what `data` completed; False if the stream must be given up."""
        for item in link.framer.feed(data):
            if isinstance(item, Malformed):
                self.stats.frames_malformed += 1
                self._log.warning("ami.frame.malformed", reason=item.reason, frame=item.text)
                if item.fatal:
                    return False
            elif link.lost is None:
                self._dispatch(link, item)
        return True

    def _dispatch(self, link: _Link, message: AmiMessage) -> None:
        if link.answers.route(message):
            return
        self.stats.events_received += 1
        for handler in tuple(self._event_handlers):
            try:
                handler(message)
            except Exception:  # noqa: BLE001 - one handler's bug must not stop the others (logged)
                self._log.exception(
                    "ami.handler.failed",
                    kind="event",
                    handler=_name(handler),
                    ami_event=message.get("Event"),
                )

    # -- losing the link -------------------------------------------------------------------

    def _drop(self, link: _Link, reason: str, *, graceful: bool = False) -> None:
        """Marks the link dead once: closes it and fails every action still waiting."""
        if link.lost is not None:
            return
        link.lost = reason
        if self._ready is link:
            self._ready = None
            self.stats.connected = False
            self._up.clear()
        if graceful:
            link.writer.close()
        else:
            link.writer.transport.abort()  # a half-open link would never flush a close()
        link.answers.fail_all(reason)

    async def _teardown(
        self, link: _Link, tasks: list[asyncio.Task[None]], *, logged_in: bool
    ) -> None:
        for task in tasks:
            task.cancel()
        for result in await asyncio.gather(*tasks, return_exceptions=True):
            if isinstance(result, Exception):
                self._log.error("ami.session.crashed", error=repr(result))
        try:
            async with asyncio.timeout(_CLOSE_GRACE):
                await link.writer.wait_closed()
        except (OSError, TimeoutError):
            link.writer.transport.abort()
        if logged_in:
            self._notify_lost(link.lost or "unknown")

    def _notify_lost(self, reason: str) -> None:
        for handler in tuple(self._disconnect_handlers):
            try:
                handler(reason)
            except Exception:  # noqa: BLE001 - one handler's bug must not stop the others (logged)
                self._log.exception("ami.handler.failed", kind="disconnect", handler=_name(handler))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return f"{type(exc).__name__}: {exc}".rstrip(": ")


def _name(handler: object) -> str:
    return getattr(handler, "__qualname__", None) or repr(handler)
