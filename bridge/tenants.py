"""The tenant model: organizations, users, their extensions, and the apps that act for them.

Read from the config's `organizations`, `users`, `extensions` and `apps` lists (every problem by
dotted path, through bridge.config_reader); bridge.directory resolves them for a request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from bridge.config_limits import LimitsOverride, read_max_calls, read_override
from bridge.config_reader import Reader as _Reader
from bridge.webhooks import signing

_PREFIX = re.compile(r"^\d{4}$")
_SHORT = re.compile(r"^\d{1,10}$")
_CHANNEL = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*/[A-Za-z0-9_.@+*#:=-]+$")
_CALLER_ID = re.compile(r"^[^<>\r\n\0]*<[0-9*+#]+>$")
_IDENT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ExtensionType(StrEnum):
    """VoipNow's extension types (`extensions[].type`)."""

    PHONE_TERMINAL = "phone_terminal"
    QUEUE = "queue"
    CONFERENCE = "conference"
    IVR = "ivr"
    CALLBACK = "callback"
    VOICEMAIL = "voicemail"
    FAX = "fax"  # receives faxes with ReceiveFAX into faxes.spool (issue 25)


# The types whose PhoneCallEvents an app may register (VoipNow's page).
WITH_PHONE_CALL_EVENTS = frozenset(
    {
        ExtensionType.PHONE_TERMINAL,
        ExtensionType.QUEUE,
        ExtensionType.CONFERENCE,
        ExtensionType.IVR,
        ExtensionType.CALLBACK,
    }
)
# Extensions nobody's phone rings on: the bridge dials others for them (issue 13).
PHONELESS_TYPES = frozenset({ExtensionType.CALLBACK, ExtensionType.CONFERENCE, ExtensionType.FAX})


@dataclass(frozen=True)
class Organization:
    id: str
    name: str
    prefix: str
    max_calls: int | None = None  # live calls charged to its extensions at once (#21)


@dataclass(frozen=True)
class User:
    id: str
    organization: str
    name: str
    max_calls: int | None = None  # live calls charged to its extensions at once (#21)


@dataclass(frozen=True)
class Extension:
    number: str  # extended form, PREFIX*SHORT
    user: str
    type: str  # an ExtensionType value
    channel: str
    caller_id: str
    node: str = ""  # the Asterisk node it lives on ("": the first)

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
    limits: LimitsOverride | None = None  # its own `limits` (None: the top level's) (#21)


def read_organizations(r: _Reader, raw: Any) -> tuple[Organization, ...]:
    orgs: list[Organization] = []
    seen_ids: set[str] = set()
    seen_prefixes: set[str] = set()
    for where, item in r.items(raw, "organizations"):
        r.section(item, where, {"id", "name", "prefix", "max_calls"})
        org = Organization(
            id=r.get(item, "id", where, str, ""),
            name=r.get(item, "name", where, str, ""),
            prefix=r.get(item, "prefix", where, str, ""),
            max_calls=read_max_calls(r, item, where),
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


def read_users(r: _Reader, raw: Any, orgs: tuple[Organization, ...]) -> tuple[User, ...]:
    org_ids = {o.id for o in orgs}
    users: list[User] = []
    seen: set[str] = set()
    for where, item in r.items(raw, "users"):
        r.section(item, where, {"id", "organization", "name", "max_calls"})
        user = User(
            id=r.get(item, "id", where, str, ""),
            organization=r.get(item, "organization", where, str, ""),
            name=r.get(item, "name", where, str, ""),
            max_calls=read_max_calls(r, item, where),
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


def read_extensions(
    r: _Reader, raw: Any, orgs: tuple[Organization, ...], users: tuple[User, ...]
) -> tuple[Extension, ...]:
    prefix_of = {o.id: o.prefix for o in orgs}
    user_by_id = {u.id: u for u in users}
    exts: list[Extension] = []
    seen: set[str] = set()
    for where, item in r.items(raw, "extensions"):
        r.section(item, where, {"number", "user", "type", "channel", "caller_id", "node"})
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
        ext_type = r.get(item, "type", where, str, ExtensionType.PHONE_TERMINAL)
        if ext_type not in set(ExtensionType):
            r.problem(f"{where}.type", f"must be one of {', '.join(sorted(ExtensionType))}")
        channel = r.get(item, "channel", where, str, "")
        if ext_type in PHONELESS_TYPES and channel:
            r.problem(
                f"{where}.channel", f"a {ext_type} extension has no channel (no phone rings on it)"
            )
        elif ext_type not in PHONELESS_TYPES and not _CHANNEL.fullmatch(channel):
            r.problem(f"{where}.channel", f"must be a dial target like PJSIP/210, got {channel!r}")
        default_cid = f"{user.name if user else ''} <{short}>".strip()
        caller_id = r.get(item, "caller_id", where, str, default_cid)
        if not _CALLER_ID.fullmatch(caller_id):
            r.problem(f"{where}.caller_id", f"must look like 'John Doe <210>', got {caller_id!r}")
        node = r.get(item, "node", where, str, "")
        exts.append(Extension(number, user_id, ext_type, channel, caller_id, node))
    return tuple(exts)


def read_apps(
    r: _Reader, raw: Any, orgs: tuple[Organization, ...], users: tuple[User, ...]
) -> tuple[App, ...]:
    keys = {
        "name",
        "user",
        "organization",
        "admin",
        "token",
        "client_id",
        "client_secret",
        "webhook_secret",
        "empty_as_200",
        "limits",
    }
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
            limits=read_override(r, item.get("limits"), where),
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
            r.problem(
                f"{where}.webhook_secret",
                f"{exc} (a Standard Webhooks secret: whsec_ and the base64 of 24+ bytes)",
            )
