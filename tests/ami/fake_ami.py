"""A scriptable fake Asterisk AMI server on loopback, for the AMI client tests.

It parses what the client writes on its own (not with the code under test), records every action,
answers Login, Ping, Filter, CoreShowChannels, Originate and Logoff like Asterisk does, and can be
told to stay silent, answer late, drop the link, go half-open, send raw bytes or refuse
connections.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

BANNER = b"Asterisk Call Manager/9.0.0\r\n"
Action = dict[str, str | list[str]]


def frame(*headers: tuple[str, str]) -> bytes:
    """One AMI frame from header pairs."""
    return "".join(f"{k}: {v}\r\n" for k, v in headers).encode() + b"\r\n"


def parse_action(raw: bytes) -> Action:
    """An action written by the client -> its headers (repeated keys become lists)."""
    action: Action = {}
    for line in raw.decode("utf-8", "replace").split("\r\n"):
        key, _, value = line.partition(": ")
        if key in action:
            old = action[key]
            action[key] = [*old, value] if isinstance(old, list) else [old, value]
        else:
            action[key] = value
    return action


@dataclass(eq=False)
class Conn:
    """One client connection as the server sees it."""

    writer: asyncio.StreamWriter
    raw: bytearray = field(default_factory=bytearray)
    actions: list[Action] = field(default_factory=list)
    authenticated: bool = False
    answer_pings: bool = True
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    def abort(self) -> None:
        self.writer.transport.abort()


class FakeAmi:
    """The fake server; attributes are the script, `received`/`conns` what happened."""

    def __init__(self, *, username: str = "uapi", secret: str = "s3cret") -> None:
        self.username = username
        self.secret = secret
        self.channels: list[dict[str, str]] = []
        self.silent: set[str] = set()  # action names (lower case) never answered
        self.late: dict[str, float] = {}  # action name -> answer after this many seconds
        self.drop_on: set[str] = set()  # action names that make the server drop the link
        self.filter_error = False
        # list actions (lower case) -> the events answering one (discover's listings)
        self.lists: dict[str, Callable[[Action], list[dict[str, str]]]] = {}
        self.errors: dict[str, str] = {}  # action name (lower case) -> its error message
        self.originate_event_delay = 0.05
        self.received: list[Action] = []
        self.conns: list[Conn] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- control ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Listens on 127.0.0.1 (the same port again after `refuse()`)."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def refuse(self) -> None:
        """Stops listening: new connections are refused until `start()`."""
        if self._server is not None:
            self._server.close()
            self._server = None

    async def close(self) -> None:
        """Stops everything it started."""
        await self.refuse()
        for conn in self.conns:
            conn.abort()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @property
    def current(self) -> Conn:
        """The newest connection."""
        return self.conns[-1]

    def named(self, name: str) -> list[Action]:
        """Every action of that name received, on any connection."""
        return [a for a in self.received if str(a.get("Action", "")).lower() == name.lower()]

    async def send_raw(self, *chunks: bytes, pause: float = 0.01) -> None:
        """Writes chunks to the newest connection, each in its own TCP write."""
        writer = self.current.writer
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
            await asyncio.sleep(pause)

    def drop(self) -> None:
        """Resets the newest connection."""
        self.current.abort()

    # -- serving ---------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Conn(writer)
        self.conns.append(conn)
        writer.write(BANNER)
        buf = b""
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                conn.raw += data
                buf += data
                while b"\r\n\r\n" in buf:
                    raw, buf = buf.split(b"\r\n\r\n", 1)
                    self._on_action(conn, parse_action(raw))
        conn.closed.set()
        writer.transport.abort()

    def _on_action(self, conn: Conn, action: Action) -> None:
        self.received.append(action)
        conn.actions.append(action)
        name = str(action.get("Action", "")).lower()
        if name in self.drop_on:
            conn.abort()
        elif name in self.late:
            self._later(self.late[name], conn, self._answer(conn, name, action))
        elif name not in self.silent:
            conn.writer.write(self._answer(conn, name, action))
            if name == "originate":
                self._later(self.originate_event_delay, conn, self._originate_event(action))
            if name in ("logoff", "login") and not conn.authenticated:
                conn.writer.close()

    def _later(self, delay: float, conn: Conn, data: bytes) -> None:
        async def write() -> None:
            await asyncio.sleep(delay)
            if not conn.writer.is_closing():
                conn.writer.write(data)

        task = asyncio.create_task(write())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _answer(self, conn: Conn, name: str, action: Action) -> bytes:
        aid = str(action.get("ActionID", ""))
        if name == "login":
            return self._login(conn, aid, action)
        if not conn.authenticated:
            return frame(
                ("Response", "Error"), ("ActionID", aid), ("Message", "Authentication Required")
            )
        if name == "logoff":
            conn.authenticated = False
            return frame(
                ("Response", "Goodbye"), ("ActionID", aid), ("Message", "Thanks for all the fish.")
            )
        if name == "ping":
            if not conn.answer_pings:
                return b""
            return frame(
                ("Response", "Success"),
                ("ActionID", aid),
                ("Ping", "Pong"),
                ("Timestamp", "1700000000.000000"),
            )
        if name == "filter" and self.filter_error:
            return frame(("Response", "Error"), ("ActionID", aid), ("Message", "Permission denied"))
        if name == "coreshowchannels":
            return self._channels(aid)
        if name in self.errors:
            return frame(("Response", "Error"), ("ActionID", aid), ("Message", self.errors[name]))
        if name in self.lists:
            return self._list(aid, self.lists[name](action))
        return self._simple(name, aid)

    def _list(self, aid: str, events: list[dict[str, str]]) -> bytes:
        out = frame(
            ("Response", "Success"),
            ("ActionID", aid),
            ("EventList", "start"),
            ("Message", "A list follows"),
        )
        for event in events:
            out += frame(*event.items(), ("ActionID", aid))
        return out + frame(
            ("Event", "ListComplete"),
            ("ActionID", aid),
            ("EventList", "Complete"),
            ("ListItems", str(len(events))),
        )

    def _simple(self, name: str, aid: str) -> bytes:
        messages = {
            "filter": "Filter Added Successfully",
            "originate": "Originate successfully queued",
            "command": "Command output follows",
        }
        if name in messages:
            return frame(("Response", "Success"), ("ActionID", aid), ("Message", messages[name]))
        return frame(
            ("Response", "Error"), ("ActionID", aid), ("Message", "Invalid/unknown command")
        )

    def _login(self, conn: Conn, aid: str, action: Action) -> bytes:
        if action.get("Username") == self.username and action.get("Secret") == self.secret:
            conn.authenticated = True
            return frame(
                ("Response", "Success"), ("ActionID", aid), ("Message", "Authentication accepted")
            ) + frame(
                ("Event", "FullyBooted"), ("Privilege", "system,all"), ("Status", "Fully Booted")
            )
        return frame(("Response", "Error"), ("ActionID", aid), ("Message", "Authentication failed"))

    def _channels(self, aid: str) -> bytes:
        out = frame(
            ("Response", "Success"),
            ("ActionID", aid),
            ("EventList", "start"),
            ("Message", "Channels will follow"),
        )
        for channel in self.channels:
            out += frame(("Event", "CoreShowChannel"), ("ActionID", aid), *channel.items())
        return out + frame(
            ("Event", "CoreShowChannelsComplete"),
            ("ActionID", aid),
            ("EventList", "Complete"),
            ("ListItems", str(len(self.channels))),
        )

    def _originate_event(self, action: Action) -> bytes:
        return frame(
            ("Event", "OriginateResponse"),
            ("Privilege", "call,all"),
            ("ActionID", str(action.get("ActionID", ""))),
            ("Response", "Success"),
            ("Channel", str(action.get("Channel", ""))),
            ("Reason", "4"),
            ("Uniqueid", str(action.get("ChannelId", "1700000000.1"))),
        )
