"""Organizations, users, extensions and apps: who may act for whom, and number forms."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bridge.config import Config
from bridge.errors import invalid
from bridge.tenants import App, Extension, Organization, User

PUBLIC_NUMBER = re.compile(r"^\+?[0-9]{1,32}$")
_EXTENDED = re.compile(r"^([0-9]{4})\*([0-9]{1,10})$")
_SHORT = re.compile(r"^[0-9]{1,10}$")
SELF = "@self"
ME_ALIASES = frozenset({"@me", "@viewer"})
OWNER = "@owner"


@dataclass(frozen=True)
class Principal:
    """The app behind a request, with the scope it was registered to."""

    app: App

    @property
    def kind(self) -> str:
        if self.app.admin:
            return "admin"
        return "organization" if self.app.organization else "user"


class Directory:
    """The configured organizations, users, extensions and apps, resolved for requests.

    Everything that holds the directory reads the current one: a reload (bridge.reload) calls
    `load` with the new config, which swaps every table at once (no await in between).
    """

    def __init__(self, config: Config) -> None:
        self.load(config)

    def load(self, config: Config) -> None:
        """Takes the tenant model (and nodes, trunks, dialing) of `config`, all at once."""
        # What a reload removed stays known to `owner` and `organization_of_user` only: a
        # request that resolved an extension before the reload finishes without a KeyError.
        self._former = (getattr(self, "users", {}), getattr(self, "organizations", {}))
        self.organizations = {o.id: o for o in config.organizations}
        self.users = {u.id: u for u in config.users}
        self.extensions = {e.number: e for e in config.extensions}
        self._by_channel = {e.channel.lower(): e for e in config.extensions if e.channel}
        self.nodes = [n.name for n in config.nodes]
        self._node_of = {e.number: config.node_of(e) for e in config.extensions}
        phones: dict[str, list[Extension]] = {name: [] for name in self.nodes}
        for ext in config.extensions:
            if ext.channel:
                phones[self._node_of[ext.number]].append(ext)
        # per node: how its channels name each extension it can ring (its own extensions by
        # their dial target; those of other nodes by the trunk dial string that reaches them)
        self._endpoints: dict[str, dict[str, Extension]] = {}
        for node in config.nodes:
            own = {e.channel.lower(): e for e in phones[node.name]}
            for peer, dial in node.trunks:
                own.update({_via(dial, e).lower(): e for e in phones.get(peer, [])})
            self._endpoints[node.name] = own
        self._trunks = {n.name: dict(n.trunks) for n in config.nodes}
        self._public = {n.name: n.public or config.dialing.public for n in config.nodes}
        self.apps = {a.name: a for a in config.apps}
        self._by_token = {a.token: a for a in config.apps if a.token}
        self._by_client_id = {a.client_id: a for a in config.apps if a.client_id}

    # --- apps -------------------------------------------------------------------------------
    def app_by_static_token(self, token: str) -> App | None:
        return self._by_token.get(token)

    def app_by_client_id(self, client_id: str) -> App | None:
        return self._by_client_id.get(client_id)

    def organization_of_user(self, user: User) -> Organization:
        org = self.organizations.get(user.organization)
        return org if org is not None else self._former[1][user.organization]

    def home_organization(self, app: App) -> Organization | None:
        """The organization whose short numbers an app may use (none for an admin app)."""
        if app.user is not None:
            return self.organization_of_user(self.users[app.user])
        if app.organization is not None:
            return self.organizations[app.organization]
        return None

    def sees(self, app: App, organization_id: str) -> bool:
        """Whether the app may know that anything of this organization exists at all.

        Everything of another organization is answered exactly as if it did not exist."""
        if app.admin:
            return True
        home = self.home_organization(app)
        return home is not None and home.id == organization_id

    def sees_extension(self, app: App, ext: Extension) -> bool:
        return self.sees(app, self.owner(ext).organization)

    def may_act_for(self, app: App, user: User) -> bool:
        """Admin apps act for anyone, organization apps for their users, user apps for self."""
        if app.admin:
            return True
        if app.organization is not None:
            return user.organization == app.organization
        return app.user == user.id

    # --- users ------------------------------------------------------------------------------
    def resolve_user(self, app: App, user_ref: str, denied_code: str) -> User | None:
        """Turns a path's userId into a User; None means `@owner` (decided by the extension).

        `@me`/`@viewer` are the app's own user; an organization or admin app must name one.
        A user the app may not act for answers 400 `denied_code`.
        """
        if user_ref == OWNER:
            return None
        if user_ref in ME_ALIASES:
            if app.user is None:
                raise invalid(
                    "user_invalid",
                    f"{user_ref} needs an app registered to a user; name the user id instead",
                )
            return self.users[app.user]
        user = self.users.get(user_ref)
        if user is None or not self.sees(app, user.organization):
            raise invalid("user_invalid", f"Unknown user id {_shown(user_ref)}.")
        if not self.may_act_for(app, user):
            raise invalid(denied_code, f"This app may not act for user {user_ref}.")
        return user

    # --- extensions -------------------------------------------------------------------------
    def extended(self, number: str, org: Organization | None) -> str | None:
        """The extended form of an extension-looking number, or None if it is not one."""
        m = _EXTENDED.fullmatch(number)
        if m:
            return number
        if org is not None and _SHORT.fullmatch(number):
            candidate = f"{org.prefix}*{number}"
            if candidate in self.extensions:
                return candidate
        return None

    def find_extension(self, number: str, org: Organization | None) -> Extension | None:
        """An extension given in short (inside `org`) or extended form, or None."""
        full = self.extended(number, org)
        return self.extensions.get(full) if full else None

    def visible_extension(
        self, app: App, number: str, org: Organization | None
    ) -> Extension | None:
        """`find_extension`, with another organization's extensions treated as unknown."""
        ext = self.find_extension(number, org)
        return ext if ext is not None and self.sees_extension(app, ext) else None

    def extension_by_channel(self, channel: str) -> Extension | None:
        """The extension whose dial target is `channel` (e.g. `PJSIP/210`), if any."""
        return self._by_channel.get(channel.lower())

    # --- nodes ------------------------------------------------------------------------------
    def node_of(self, ext: Extension) -> str:
        """The Asterisk node an extension lives on."""
        return self._node_of.get(ext.number, self.nodes[0])

    def extension_of_endpoint(self, node: str) -> Callable[[str], str | None]:
        """How node `node`'s call tracker names a channel's endpoint (`PJSIP/210`, or a trunk
        dial string `PJSIP/410@node2`): the extended number of the extension it rings."""

        def extension_of(channel: str) -> str | None:  # the current tables: after a reload too
            ext = self._endpoints.get(node, {}).get(channel.lower())
            return ext.number if ext else None

        return extension_of

    def public_of(self, node: str) -> str:
        """How `node` dials a public number: its own dialing.public, else the top-level one."""
        return self._public[node]

    def trunk_endpoints(self, node: str) -> dict[str, str]:
        """{peer node: the endpoint (`PJSIP/node2`) through which `node` reaches it}."""
        out = {}
        for peer, dial in self._trunks.get(node, {}).items():
            tech, _, rest = dial.partition("/")
            out[peer] = f"{tech}/{rest.partition('@')[2]}"
        return out

    def dial_target(self, ext: Extension, node: str) -> str | None:
        """How node `node` dials extension `ext`: its channel at home, the trunk to its node
        from another node, None when `node` has no trunk there."""
        home = self.node_of(ext)
        if home == node:
            return ext.channel
        dial = self._trunks.get(node, {}).get(home)
        return _via(dial, ext) if dial else None

    def extensions_of(self, user: User) -> list[Extension]:
        return [e for e in self.extensions.values() if e.user == user.id]

    def owner(self, ext: Extension) -> User:
        user = self.users.get(ext.user)
        return user if user is not None else self._former[0][ext.user]

    def resolve_extension(
        self, app: App, user: User | None, number: str, denied_code: str = "extension_invalid"
    ) -> Extension:
        """The path's extension, owned by `user` (or by anyone the app may act for, for @owner)."""
        org = self.organization_of_user(user) if user else self.home_organization(app)
        ext = self.visible_extension(app, number, org)
        if ext is None:
            raise invalid("extension_invalid", f"Unknown extension {_shown(number)}.")
        owner = self.owner(ext)
        if user is None and not self.may_act_for(app, owner):
            raise invalid(denied_code, f"This app may not act for extension {ext.number}.")
        if user is not None and owner.id != user.id:
            raise invalid(
                "extension_invalid", f"Extension {ext.number} is not owned by user {user.id}."
            )
        return ext

    def scope_extensions(self, app: App, user: User | None, number: str) -> list[Extension]:
        """The extensions a phoneCalls-style path names: one extension, or all for `@self`."""
        if number == SELF:
            if user is None:
                return [e for e in self.extensions.values() if self.may_act_for(app, self.owner(e))]
            return self.extensions_of(user)
        return [self.resolve_extension(app, user, number)]


def _via(dial: str, ext: Extension) -> str:
    """A trunk dial string (`PJSIP/{short}@node2`) filled in for extension `ext`."""
    return dial.replace("{short}", ext.short)


def is_public_number(number: str) -> bool:
    return bool(PUBLIC_NUMBER.fullmatch(number))


def _shown(text: str) -> str:
    """A client's value for an error message, cut short."""
    return repr(text) if len(text) <= 40 else repr(text[:37] + "...")
