"""Daemon settings: YAML -> frozen dataclasses; every problem is reported at once, by dotted path.

The tenant model (organizations, users, extensions, apps) is read by bridge.tenants.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from bridge.ari.settings import AriConfig, read_ari
from bridge.config_limits import LimitsConfig, read_limits
from bridge.config_reader import Reader as _Reader
from bridge.config_reader import simple as _simple
from bridge.errors import ConfigError as ConfigError  # noqa: PLC0414 (callers: config.ConfigError)
from bridge.tenants import (
    App,
    Extension,
    Organization,
    User,
    read_apps,
    read_extensions,
    read_organizations,
    read_users,
)
from bridge.tls import TlsConfig, read_tls, tls_problems
from bridge.webhooks.settings import MAX_OVERLAP, WebhooksConfig

DEFAULT_NODE = "default"  # the name of the one node a single `ami:` mapping describes
_TRUNK = re.compile(r"[A-Za-z][A-Za-z0-9]*/\{short\}@[A-Za-z0-9_.:-]+")
_DURATION = re.compile(r"([0-9]{1,9}(?:\.[0-9]{1,6})?)\s*([smhdw]?)")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


@dataclass(frozen=True)
class HttpConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    max_body: int = 64 * 1024
    # A connection that has not sent a whole request (headers and body) this long after it
    # opened, or after its last answer, is closed: slow or idle clients cannot pile up.
    request_timeout: float = 30.0
    tls: TlsConfig | None = None  # set: the bridge serves HTTPS itself


@dataclass(frozen=True)
class AmiConfig:
    """One Asterisk node: its AMI link, and (several nodes) how it reaches the others."""

    name: str = DEFAULT_NODE
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "uapi"
    secret: str = ""
    action_timeout: float = 10.0
    ping_interval: float = 5.0
    ping_timeout: float = 5.0
    reconnect_min: float = 0.5
    reconnect_max: float = 10.0
    # peer node name -> the dial string of an extension there, through a trunk: a call between
    # the nodes is placed on the source's node and dials the other through it
    trunks: tuple[tuple[str, str], ...] = ()
    public: str | None = None  # this node's dialing.public (None: the top-level one)
    # Originates per second sent to this node (burst: one second's worth), and how many may
    # wait for their turn before a make-call request is answered 503 pbx_busy (#21)
    originate_rate: float = 20.0
    originate_queue: int = 200
    ari: AriConfig | None = None  # its ARI (issue 25: recordings); None: not configured


@dataclass(frozen=True)
class StorageConfig:
    path: str = "var/uapi-bridge.sqlite3"  # SQLite (the embedded default), used unless `url`
    url: str = ""  # postgresql://user:pass@host:5432/db: PostgreSQL, shared by several bridges
    lease: float = 30.0  # seconds a bridge holds an outbox row it is sending (PostgreSQL)


@dataclass(frozen=True)
class DialingConfig:
    public: str = "PJSIP/{number}@trunk"
    voicemail: str = "{short}@default"  # VoiceMail() box of an extension (TransferToVoicemail)


@dataclass(frozen=True)
class ParkingConfig:
    lot: str = "default"
    context: str = "parkedcalls"


@dataclass(frozen=True)
class HistoryConfig:
    retention: float = 90 * 86400.0  # seconds a call history record is kept after its end


@dataclass(frozen=True)
class FaxesConfig:
    """Faxes (issue 25): where the TIFFs are, as the bridge and as Asterisk see the directory."""

    spool: str = "/var/spool/asterisk/fax"  # the directory as the bridge sees it
    spool_on_pbx: str = ""  # the same directory as Asterisk sees it ("": the same path)
    max_bytes: int = 10 * 1024 * 1024  # per document
    max_pages: int = 50  # per fax
    wait: int = 60  # seconds a recipient may ring

    @property
    def pbx_spool(self) -> str:
        return self.spool_on_pbx or self.spool


@dataclass(frozen=True)
class StreamConfig:
    """The live event stream (bridge/live)."""

    max_clients: int = 1000  # streams open at once; one more is refused with 503
    buffer: int = 10_000  # events kept for Last-Event-ID resumes
    queue: int = 1000  # events waiting for one client; beyond: `overflow` and closed
    heartbeat: float = 15.0  # seconds between comment lines


@dataclass(frozen=True)
class AuthConfig:
    token_ttl: int = 3600
    max_tokens: int = 100  # live issued tokens per app; a new one revokes the oldest


@dataclass(frozen=True)
class LoggingConfig:
    level: str = "info"


@dataclass(frozen=True)
class Config:
    http: HttpConfig = HttpConfig()
    storage: StorageConfig = StorageConfig()
    dialing: DialingConfig = DialingConfig()
    parking: ParkingConfig = ParkingConfig()
    webhooks: WebhooksConfig = field(default_factory=WebhooksConfig)
    history: HistoryConfig = field(default_factory=HistoryConfig)
    stream: StreamConfig = field(default_factory=StreamConfig)
    faxes: FaxesConfig = FaxesConfig()
    auth: AuthConfig = AuthConfig()
    logging: LoggingConfig = LoggingConfig()
    organizations: tuple[Organization, ...] = ()
    users: tuple[User, ...] = ()
    extensions: tuple[Extension, ...] = ()
    apps: tuple[App, ...] = ()
    # every node, in `ami:` order (never empty: one mapping is one node named `default`)
    nodes: tuple[AmiConfig, ...] = (AmiConfig(),)
    limits: LimitsConfig = field(default_factory=LimitsConfig)  # per app: requests and calls (#21)
    ami_list: bool = False  # `ami:` was given as a list of named nodes (not one mapping)

    def node_of(self, ext: Extension) -> str:
        """The node an extension lives on (default: the first)."""
        return ext.node or self.nodes[0].name


# The top-level keys: `ami` is read into `nodes` (a top-level `nodes:` has always been let
# through, and ignored)
_TOP_KEYS = (set(Config.__dataclass_fields__) - {"ami_list"}) | {"ami"}


def _read_http(r: _Reader, raw: Any) -> HttpConfig:
    rest = dict(raw) if isinstance(raw, dict) else raw
    tls_raw = rest.pop("tls", None) if isinstance(rest, dict) else None
    http = _simple(r, rest, "http", HttpConfig, HttpConfig())
    http = dataclasses.replace(http, tls=read_tls(r, tls_raw))
    if not 0 < http.port < 65536:
        r.problem("http.port", "must be between 1 and 65535")
    if http.request_timeout <= 0:
        r.problem("http.request_timeout", "must be greater than 0")
    if http.public_url is not None and not re.match(r"^https?://[^\s/]+", http.public_url):
        r.problem("http.public_url", "must be an absolute http(s) URL")
    return http


_NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,31}")


def _read_nodes(r: _Reader, raw: Any) -> tuple[AmiConfig, ...]:
    """`ami:` as one mapping (one node named `default`) or as a list of named nodes."""
    if not isinstance(raw, list):
        return (_read_ami(r, raw, "ami"),)
    if not raw:
        r.problem("ami", "must name at least one node")
        return (AmiConfig(),)
    nodes = [_read_ami(r, item, where) for where, item in r.items(raw, "ami")]
    seen: set[str] = set()
    for i, node in enumerate(nodes):
        if node.name in seen:
            r.problem(f"ami[{i}].name", f"duplicate node name {node.name!r}")
        seen.add(node.name)
    for i, node in enumerate(nodes):
        for peer, _ in node.trunks:
            if peer not in seen:
                r.problem(f"ami[{i}].trunks.{peer}", f"unknown node {peer!r}")
            elif peer == node.name:
                r.problem(f"ami[{i}].trunks.{peer}", "a node needs no trunk to itself")
    return tuple(nodes) or (AmiConfig(),)


def _read_ami(r: _Reader, raw: Any, where: str) -> AmiConfig:
    rest = dict(raw) if isinstance(raw, dict) else raw
    extra: dict[str, Any] = {}
    if isinstance(rest, dict):
        extra = {k: rest.pop(k) for k in ("trunks", "dialing", "ari") if k in rest}
    ami = _simple(r, rest, where, AmiConfig, AmiConfig())
    if not _NODE_NAME.fullmatch(ami.name):
        r.problem(f"{where}.name", "must be 1-32 letters, digits, '.', '_' or '-'")
    if not 0 < ami.port < 65536:
        r.problem(f"{where}.port", "must be between 1 and 65535")
    if not ami.username:
        r.problem(f"{where}.username", "must not be empty")
    if not ami.secret and not any(p.startswith(f"{where}.secret:") for p in r.problems):
        r.problem(f"{where}.secret", "must not be empty")
    for name in ("action_timeout", "ping_interval", "ping_timeout", "reconnect_min"):
        if getattr(ami, name) <= 0:
            r.problem(f"{where}.{name}", "must be greater than 0")
    for name in ("originate_rate", "originate_queue"):  # (#21)
        if getattr(ami, name) <= 0:
            r.problem(f"{where}.{name}", "must be greater than 0")
    if ami.reconnect_max < ami.reconnect_min:
        r.problem(f"{where}.reconnect_max", f"must be at least {where}.reconnect_min")
    return dataclasses.replace(
        ami,
        trunks=_read_trunks(r, extra.get("trunks"), where),
        public=_read_node_public(r, extra.get("dialing"), where),
        ari=read_ari(r, extra.get("ari"), where),
    )


def _read_trunks(r: _Reader, raw: Any, where: str) -> tuple[tuple[str, str], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, dict):
        r.problem(f"{where}.trunks", "must map a node name to a dial string")
        return ()
    out = []
    for peer, dial in raw.items():
        text = r.expand(dial, f"{where}.trunks.{peer}") if isinstance(dial, str) else dial
        if not isinstance(text, str) or not _TRUNK.fullmatch(text):
            r.problem(
                f"{where}.trunks.{peer}",
                "must be a dial string like PJSIP/{short}@node2 "
                f"({{short}}: the extension's short number), got {dial!r}",
            )
            continue
        out.append((str(peer), text))
    return tuple(out)


def _read_node_public(r: _Reader, raw: Any, where: str) -> str | None:
    sec = r.section(raw, f"{where}.dialing", {"public"})
    public = r.get(sec, "public", f"{where}.dialing", str, "")
    if public and "{number}" not in public:
        r.problem(f"{where}.dialing.public", "must contain {number}")
    return public or None


def _read_webhooks(r: _Reader, raw: Any) -> WebhooksConfig:
    defaults = WebhooksConfig()
    numbers = (
        "timeout",
        "per_receiver",
        "max_attempts",
        "backoff_min",
        "backoff_max",
        "shutdown_grace",
        "max_registrations",
        "max_response_bytes",
        "disable_min_failures",
    )
    durations = ("retention", "rotation_overlap", "disable_after")
    sec = r.section(raw, "webhooks", {"allow_networks", *durations, *numbers})
    values: dict[str, Any] = {}
    for name in numbers:
        default = getattr(defaults, name)
        value = r.get(sec, name, "webhooks", type(default), default)
        if isinstance(value, int | float) and value <= 0:
            r.problem(f"webhooks.{name}", "must be greater than 0")
        values[name] = value
    nets = []
    for i, item in enumerate(sec.get("allow_networks") or []):
        try:
            nets.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError:
            r.problem(f"webhooks.allow_networks[{i}]", f"not a network: {item!r}")
    for name in durations:
        values[name] = _duration(
            r, sec, f"webhooks.{name}", getattr(defaults, name), zero=name == "rotation_overlap"
        )
    if values["rotation_overlap"] > MAX_OVERLAP:
        r.problem("webhooks.rotation_overlap", "must be at most 7 days")
    return WebhooksConfig(allow_networks=tuple(nets), **values)


def _duration(
    r: _Reader, sec: dict[str, Any], where: str, default: float, *, zero: bool = False
) -> float:
    """Seconds, given as a number or as a string like `90s`, `30m`, `12h`, `7d`, `2w` (0 only
    where `zero` allows it)."""
    raw = sec.get(where.rsplit(".", 1)[1])
    if raw is None:
        return default
    text = r.expand(raw, where) if isinstance(raw, str) else raw
    if isinstance(text, int | float) and not isinstance(text, bool):
        seconds = float(text)
    elif isinstance(text, str) and (m := _DURATION.fullmatch(text.strip())):
        seconds = float(m[1]) * _UNITS[m[2] or "s"]
    else:
        r.problem(where, f"must be seconds or a duration like 7d, got {raw!r}")
        return default
    if seconds < 0 or (seconds == 0 and not zero):
        r.problem(where, "must be greater than 0" if not zero else "must not be negative")
    return seconds


def _read_history(r: _Reader, raw: Any) -> HistoryConfig:
    sec = r.section(raw, "history", {"retention"})
    return HistoryConfig(_duration(r, sec, "history.retention", HistoryConfig().retention))


def _read_stream(r: _Reader, raw: Any) -> StreamConfig:
    stream = _simple(r, raw, "stream", StreamConfig, StreamConfig())
    for name in ("max_clients", "buffer", "queue", "heartbeat"):
        if getattr(stream, name) <= 0:
            r.problem(f"stream.{name}", "must be greater than 0")
    return stream


def _read_faxes(r: _Reader, raw: Any) -> FaxesConfig:
    faxes = _simple(r, raw, "faxes", FaxesConfig, FaxesConfig())
    for name in ("max_bytes", "max_pages", "wait"):
        if getattr(faxes, name) <= 0:
            r.problem(f"faxes.{name}", "must be greater than 0")
    for name in ("spool", "spool_on_pbx"):
        value = getattr(faxes, name)
        if value and (not value.startswith("/") or any(c in value for c in "\r\n\0,;|")):
            r.problem(f"faxes.{name}", "must be an absolute directory path")
    return faxes


def parse(raw: Any, env: Mapping[str, str] | None = None) -> Config:
    """Builds a Config from parsed YAML; raises ConfigError listing every problem."""
    r = _Reader(os.environ if env is None else env)
    top = r.section(raw, "", _TOP_KEYS)
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(r.problems)
    nodes = _read_nodes(r, top.get("ami"))
    orgs = read_organizations(r, top.get("organizations"))
    users = read_users(r, top.get("users"), orgs)
    config = Config(
        http=_read_http(r, top.get("http")),
        nodes=nodes,
        ami_list=isinstance(top.get("ami"), list),
        storage=_read_storage(r, top.get("storage")),
        dialing=_simple(r, top.get("dialing"), "dialing", DialingConfig, DialingConfig()),
        parking=_simple(r, top.get("parking"), "parking", ParkingConfig, ParkingConfig()),
        webhooks=_read_webhooks(r, top.get("webhooks")),
        history=_read_history(r, top.get("history")),
        stream=_read_stream(r, top.get("stream")),
        faxes=_read_faxes(r, top.get("faxes")),
        auth=_simple(r, top.get("auth"), "auth", AuthConfig, AuthConfig()),
        logging=_simple(r, top.get("logging"), "logging", LoggingConfig, LoggingConfig()),
        organizations=orgs,
        users=users,
        extensions=read_extensions(r, top.get("extensions"), orgs, users),
        apps=read_apps(r, top.get("apps"), orgs, users),
        limits=read_limits(r, top.get("limits")),
    )
    _check_cross(r, config)
    if r.problems:
        raise ConfigError(r.problems)
    return config


def _read_storage(r: _Reader, raw: Any) -> StorageConfig:
    storage = _simple(r, raw, "storage", StorageConfig, StorageConfig())
    if isinstance(raw, dict) and raw.get("url") and raw.get("path"):
        r.problem("storage", "give either path (SQLite) or url (PostgreSQL), not both")
    if storage.url:
        problem = _postgres_url_problem(storage.url)
        if problem:
            r.problem("storage.url", problem)
    if storage.lease <= 0:
        r.problem("storage.lease", "must be greater than 0")
    return storage


def _postgres_url_problem(url: str) -> str | None:
    """What is wrong with a PostgreSQL URL (never echoing it: it may hold a password)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        return (
            f"not a valid URL ({exc}); a password with reserved characters must be "
            "percent-encoded, or left out and given in PGPASSWORD"
        )
    if parts.scheme not in ("postgresql", "postgres"):
        return "must start with postgresql://"
    if not parts.hostname:
        return "must name a host (postgresql://user@host:5432/database)"
    if not parts.path.strip("/"):
        return "must name a database (postgresql://user@host:5432/database)"
    if port == 0:
        return "port must be 1-65535"
    return None


def _check_cross(r: _Reader, config: Config) -> None:
    if "{number}" not in config.dialing.public:
        r.problem("dialing.public", "must contain {number}")
    if not config.storage.path and not config.storage.url:
        r.problem("storage.path", "must not be empty")
    if config.auth.token_ttl <= 0:
        r.problem("auth.token_ttl", "must be greater than 0")
    if config.auth.max_tokens <= 0:
        r.problem("auth.max_tokens", "must be greater than 0")
    if config.logging.level.lower() not in {"debug", "info", "warning", "error"}:
        r.problem("logging.level", "must be debug, info, warning or error")
    _check_nodes(r, config)


def _check_nodes(r: _Reader, config: Config) -> None:
    """Every extension names a known node; with several nodes, each node has extensions."""
    names = [n.name for n in config.nodes]
    used = set()
    for i, ext in enumerate(config.extensions):
        if ext.node and ext.node not in names:
            r.problem(
                f"extensions[{i}].node",
                f"unknown node {ext.node!r} (nodes: {', '.join(dict.fromkeys(names))})",
            )
        used.add(config.node_of(ext))
    if len(names) > 1:
        for i, name in enumerate(names):
            if name not in used:
                r.problem(f"ami[{i}]", f"node {name!r} has no extensions")


def load(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Reads and validates a YAML config file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from exc
    try:
        # libyaml's loader where PyYAML has it: 3x faster on a 10,000-extension file
        raw = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"]) from exc
    config = parse(raw, env)
    problems = tls_problems(config.http.tls)  # files: checked here, not in parse()
    if problems:
        raise ConfigError(problems)
    return config


def load_or_report(path: str | Path) -> Config | None:
    """For the commands: the config, or None after every problem is printed on stderr."""
    try:
        return load(path)
    except ConfigError as exc:
        print(f"{path}: {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        return None
