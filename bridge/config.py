"""YAML config -> frozen dataclasses; every problem is reported at once, by dotted path."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

from bridge.config_reader import Reader as _Reader
from bridge.config_reader import simple as _simple
from bridge.errors import ConfigError
from bridge.tls import TlsConfig, read_tls, tls_problems
from bridge.webhooks import signing

EXTENSION_TYPES = frozenset(
    {"phone_terminal", "queue", "conference", "ivr", "callback", "voicemail"}
)
_PREFIX = re.compile(r"^\d{4}$")
_SHORT = re.compile(r"^\d{1,10}$")
_CHANNEL = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*/[A-Za-z0-9_.@+*#:=-]+$")
_CALLER_ID = re.compile(r"^[^<>\r\n\0]*<[0-9*+#]+>$")
_IDENT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
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
    host: str = "127.0.0.1"
    port: int = 5038
    username: str = "uapi"
    secret: str = ""
    action_timeout: float = 10.0
    ping_interval: float = 5.0
    ping_timeout: float = 5.0
    reconnect_min: float = 0.5
    reconnect_max: float = 10.0


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
class WebhooksConfig:
    allow_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    timeout: float = 10.0  # seconds per delivery attempt
    per_receiver: int = 4  # attempts in flight at once to one host:port
    max_attempts: int = 15  # then the delivery is given up (about an hour of retries)
    backoff_min: float = 1.0  # first retry after about this many seconds, doubling
    backoff_max: float = 300.0
    shutdown_grace: float = 5.0  # SIGTERM: in-flight attempts may finish for this long
    max_registrations: int = 50  # PhoneCallEvents per extension and app
    max_response_bytes: int = 64 * 1024  # of a receiver's answer read, the rest is dropped
    retention: float = 7 * 86400.0  # seconds finished deliveries and attempt logs are kept


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
class Organization:
    id: str
    name: str
    prefix: str


@dataclass(frozen=True)
class User:
    id: str
    organization: str
    name: str


@dataclass(frozen=True)
class Extension:
    number: str  # extended form, PREFIX*SHORT
    user: str
    type: str
    channel: str
    caller_id: str

    @property
    def short(self) -> str:
        return self.number.split("*", 1)[1]

    @property
    def prefix(self) -> str:
        return self.number.split("*", 1)[0]


@dataclass(frozen=True)
class App:
    name: str
    user: str | None = None
    organization: str | None = None
    admin: bool = False
    token: str | None = None
    client_id: str | None = None
    client_secret: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    empty_as_200: bool = False  # empty results answer 200 with a body instead of 204


@dataclass(frozen=True)
class Config:
    http: HttpConfig = HttpConfig()
    ami: AmiConfig = AmiConfig()
    storage: StorageConfig = StorageConfig()
    dialing: DialingConfig = DialingConfig()
    parking: ParkingConfig = ParkingConfig()
    webhooks: WebhooksConfig = WebhooksConfig()
    stream: StreamConfig = StreamConfig()
    auth: AuthConfig = AuthConfig()
    logging: LoggingConfig = LoggingConfig()
    organizations: tuple[Organization, ...] = ()
    users: tuple[User, ...] = ()
    extensions: tuple[Extension, ...] = ()
    apps: tuple[App, ...] = ()


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


def _read_ami(r: _Reader, raw: Any) -> AmiConfig:
    ami = _simple(r, raw, "ami", AmiConfig, AmiConfig())
    if not 0 < ami.port < 65536:
        r.problem("ami.port", "must be between 1 and 65535")
    if not ami.username:
        r.problem("ami.username", "must not be empty")
    for name in ("action_timeout", "ping_interval", "ping_timeout", "reconnect_min"):
        if getattr(ami, name) <= 0:
            r.problem(f"ami.{name}", "must be greater than 0")
    if ami.reconnect_max < ami.reconnect_min:
        r.problem("ami.reconnect_max", "must be at least ami.reconnect_min")
    return ami


def _read_webhooks(r: _Reader, raw: Any) -> WebhooksConfig:
    defaults = WebhooksConfig()
    numbers = ("timeout", "per_receiver", "max_attempts", "backoff_min", "backoff_max",
               "shutdown_grace", "max_registrations", "max_response_bytes")
    sec = r.section(raw, "webhooks", {"allow_networks", "retention", *numbers})
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
    values["retention"] = _duration(r, sec, "webhooks.retention", defaults.retention)
    return WebhooksConfig(allow_networks=tuple(nets), **values)


def _duration(r: _Reader, sec: dict[str, Any], where: str, default: float) -> float:
    """Seconds, given as a number or as a string like `90s`, `30m`, `12h`, `7d`, `2w`."""
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
    if seconds <= 0:
        r.problem(where, "must be greater than 0")
    return seconds


def _read_stream(r: _Reader, raw: Any) -> StreamConfig:
    stream = _simple(r, raw, "stream", StreamConfig, StreamConfig())
    for name in ("max_clients", "buffer", "queue", "heartbeat"):
        if getattr(stream, name) <= 0:
            r.problem(f"stream.{name}", "must be greater than 0")
    return stream


def _read_organizations(r: _Reader, raw: Any) -> tuple[Organization, ...]:
    orgs: list[Organization] = []
    seen_ids: set[str] = set()
    seen_prefixes: set[str] = set()
    for where, item in r.items(raw, "organizations"):
        r.section(item, where, {"id", "name", "prefix"})
        org = Organization(
            id=r.get(item, "id", where, str, ""),
            name=r.get(item, "name", where, str, ""),
            prefix=r.get(item, "prefix", where, str, ""),
        )
        if not _IDENT.fullmatch(org.id):
            r.problem(f"{where}.id", "must be 1-64 letters, digits, _ or -")
        elif org.id in seen_ids:
            r.problem(f"{where}.id", f"duplicate organization id {org.id!r}")
        if not _PREFIX.fullmatch(org.prefix):
            r.problem(f"{where}.prefix", f"must be 4 digits, got {org.prefix!r}")
        elif org.prefix in seen_prefixes:
            r.problem(f"{where}.prefix", f"duplicate prefix {org.prefix!r}")
        seen_ids.add(org.id)
        seen_prefixes.add(org.prefix)
        orgs.append(org)
    return tuple(orgs)


def _read_users(r: _Reader, raw: Any, orgs: tuple[Organization, ...]) -> tuple[User, ...]:
    org_ids = {o.id for o in orgs}
    users: list[User] = []
    seen: set[str] = set()
    for where, item in r.items(raw, "users"):
        r.section(item, where, {"id", "organization", "name"})
        user = User(
            id=r.get(item, "id", where, str, ""),
            organization=r.get(item, "organization", where, str, ""),
            name=r.get(item, "name", where, str, ""),
        )
        if not user.id.isdigit():
            r.problem(f"{where}.id", f"must be a numeric user id, got {user.id!r}")
        elif user.id in seen:
            r.problem(f"{where}.id", f"duplicate user id {user.id!r}")
        if user.organization not in org_ids:
            r.problem(f"{where}.organization", f"unknown organization {user.organization!r}")
        seen.add(user.id)
        users.append(user)
    return tuple(users)


def _read_extensions(
    r: _Reader, raw: Any, orgs: tuple[Organization, ...], users: tuple[User, ...]
) -> tuple[Extension, ...]:
    prefix_of = {o.id: o.prefix for o in orgs}
    user_by_id = {u.id: u for u in users}
    exts: list[Extension] = []
    seen: set[str] = set()
    for where, item in r.items(raw, "extensions"):
        r.section(item, where, {"number", "user", "type", "channel", "caller_id"})
        number = r.get(item, "number", where, str, "")
        user_id = r.get(item, "user", where, str, "")
        user = user_by_id.get(user_id)
        if user is None:
            r.problem(f"{where}.user", f"unknown user {user_id!r}")
        prefix, star, short = number.partition("*")
        if not (star and _PREFIX.fullmatch(prefix) and _SHORT.fullmatch(short)):
            r.problem(f"{where}.number", f"must be PREFIX*SHORT like 0003*210, got {number!r}")
        elif user is not None and prefix_of.get(user.organization) != prefix:
            r.problem(
                f"{where}.number",
                f"prefix {prefix} is not the prefix of organization {user.organization!r}",
            )
        if number in seen:
            r.problem(f"{where}.number", f"duplicate extension number {number!r}")
        seen.add(number)
        ext_type = r.get(item, "type", where, str, "phone_terminal")
        if ext_type not in EXTENSION_TYPES:
            r.problem(f"{where}.type", f"must be one of {', '.join(sorted(EXTENSION_TYPES))}")
        channel = r.get(item, "channel", where, str, "")
        if not _CHANNEL.fullmatch(channel):
            r.problem(f"{where}.channel", f"must be a dial target like PJSIP/210, got {channel!r}")
        default_cid = f"{user.name if user else ''} <{short}>".strip()
        caller_id = r.get(item, "caller_id", where, str, default_cid)
        if not _CALLER_ID.fullmatch(caller_id):
            r.problem(f"{where}.caller_id", f"must look like 'John Doe <210>', got {caller_id!r}")
        exts.append(Extension(number, user_id, ext_type, channel, caller_id))
    return tuple(exts)


def _read_apps(
    r: _Reader, raw: Any, orgs: tuple[Organization, ...], users: tuple[User, ...]
) -> tuple[App, ...]:
    keys = {"name", "user", "organization", "admin", "token", "client_id", "client_secret",
            "webhook_secret", "empty_as_200"}
    apps: list[App] = []
    names: set[str] = set()
    tokens: set[str] = set()
    client_ids: set[str] = set()
    for where, item in r.items(raw, "apps"):
        r.section(item, where, keys)
        app = App(
            name=r.get(item, "name", where, str, ""),
            user=r.get(item, "user", where, str, None),
            organization=r.get(item, "organization", where, str, None),
            admin=r.get(item, "admin", where, bool, False),
            token=r.get(item, "token", where, str, None),
            client_id=r.get(item, "client_id", where, str, None),
            client_secret=r.get(item, "client_secret", where, str, None),
            webhook_secret=r.get(item, "webhook_secret", where, str, None),
            empty_as_200=r.get(item, "empty_as_200", where, bool, False),
        )
        _check_app(r, where, app, orgs, users)
        if app.name in names:
            r.problem(f"{where}.name", f"duplicate app name {app.name!r}")
        if app.token and app.token in tokens:
            r.problem(f"{where}.token", "the same token is given to two apps")
        if app.client_id and app.client_id in client_ids:
            r.problem(f"{where}.client_id", f"duplicate client_id {app.client_id!r}")
        names.add(app.name)
        tokens.add(app.token or "")
        client_ids.add(app.client_id or "")
        apps.append(app)
    return tuple(apps)


def _check_app(
    r: _Reader, where: str, app: App, orgs: tuple[Organization, ...], users: tuple[User, ...]
) -> None:
    if not _IDENT.fullmatch(app.name):
        r.problem(f"{where}.name", "must be 1-64 letters, digits, _ or -")
    owners = [x for x in (app.user, app.organization, app.admin or None) if x]
    if len(owners) != 1:
        r.problem(where, "must have exactly one of user, organization or admin: true")
    if app.user is not None and app.user not in {u.id for u in users}:
        r.problem(f"{where}.user", f"unknown user {app.user!r}")
    if app.organization is not None and app.organization not in {o.id for o in orgs}:
        r.problem(f"{where}.organization", f"unknown organization {app.organization!r}")
    if any(p.startswith(f"{where}.") for p in r.problems):
        return  # a field is already reported; the checks below would only echo it
    if not app.token and not (app.client_id and app.client_secret):
        r.problem(where, "needs a token, or client_id and client_secret")
    if app.token is not None and len(app.token) < 16:
        r.problem(f"{where}.token", "must be at least 16 characters")
    if bool(app.client_id) != bool(app.client_secret):
        r.problem(where, "client_id and client_secret go together")
    if app.webhook_secret is not None:
        try:
            signing.key(app.webhook_secret)
        except ValueError as exc:  # refused, not converted: receivers must get what we sign
            r.problem(f"{where}.webhook_secret",
                      f"{exc} (a Standard Webhooks secret: whsec_ and the base64 of 24+ bytes)")


def parse(raw: Any, env: Mapping[str, str] | None = None) -> Config:
    """Builds a Config from parsed YAML; raises ConfigError listing every problem."""
    r = _Reader(os.environ if env is None else env)
    top = r.section(raw, "", set(Config.__dataclass_fields__))
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(r.problems)
    orgs = _read_organizations(r, top.get("organizations"))
    users = _read_users(r, top.get("users"), orgs)
    config = Config(
        http=_read_http(r, top.get("http")),
        ami=_read_ami(r, top.get("ami")),
        storage=_read_storage(r, top.get("storage")),
        dialing=_simple(r, top.get("dialing"), "dialing", DialingConfig, DialingConfig()),
        parking=_simple(r, top.get("parking"), "parking", ParkingConfig, ParkingConfig()),
        webhooks=_read_webhooks(r, top.get("webhooks")),
        stream=_read_stream(r, top.get("stream")),
        auth=_simple(r, top.get("auth"), "auth", AuthConfig, AuthConfig()),
        logging=_simple(r, top.get("logging"), "logging", LoggingConfig, LoggingConfig()),
        organizations=orgs,
        users=users,
        extensions=_read_extensions(r, top.get("extensions"), orgs, users),
        apps=_read_apps(r, top.get("apps"), orgs, users),
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
        return f"not a valid URL ({exc}); a password with reserved characters must be " \
               "percent-encoded, or left out and given in PGPASSWORD"
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
    if not config.ami.secret and not any(p.startswith("ami.secret:") for p in r.problems):
        r.problem("ami.secret", "must not be empty")


def load(path: str | Path, env: Mapping[str, str] | None = None) -> Config:
    """Reads and validates a YAML config file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML: {exc}"]) from exc
    config = parse(raw, env)
    problems = tls_problems(config.http.tls)  # files: checked here, not in parse()
    if problems:
        raise ConfigError(problems)
    return config
