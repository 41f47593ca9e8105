"""The tenant rules of one request, in one place: whose extension, inside which organization,
dialled how.

A use case builds one `Resolver` per request from the directory and the authenticated app and
path user. Another organization's extension gets exactly the answer an unknown number gets;
each refusal is a 400 with the code of the field it is about.
"""

from __future__ import annotations

from bridge.directory import Directory, is_public_number
from bridge.errors import invalid
from bridge.tenants import App, Extension, ExtensionType, Organization, User


class Resolver:
    """One request's view of the directory: the app, the path's user (None: @owner, or no user
    in the request) and the organization whose short numbers they use."""

    def __init__(self, directory: Directory, app: App | None, user: User | None = None) -> None:
        self.directory = directory
        self.app = app
        self.user = user
        self.home = (
            directory.organization_of_user(user)
            if user
            else (directory.home_organization(app) if app is not None else None)
        )

    def owned(self, number: str, kind: ExtensionType) -> Extension:
        """The charged extension: a `kind` extension of the path's user (for @owner: of a user
        the app may act for); anything else is 400 extension_invalid."""
        ext = self.visible(number)
        if ext is None or ext.type != kind:
            what = kind.value.replace("_", " ")
            raise invalid("extension_invalid", f"{number[:40]!r} is not a {what} extension.")
        owner = self.directory.owner(ext)
        mine = owner.id == self.user.id if self.user else self.may_act_for(ext)
        if not mine:
            raise invalid("extension_invalid", f"Extension {ext.number} is not the user's.")
        return ext

    def visible(self, number: str) -> Extension | None:
        """The extension `number` names (short: in the home organization), if the app sees it."""
        if self.app is None:
            return self.directory.find_extension(number, self.home)
        return self.directory.visible_extension(self.app, number, self.home)

    def may_act_for(self, ext: Extension) -> bool:
        owner = self.directory.owner(ext)
        return self.app is not None and self.directory.may_act_for(self.app, owner)

    def organization(self, ext: Extension) -> Organization:
        """The organization an extension belongs to (that of its owner)."""
        return self.directory.organization_of_user(self.directory.owner(ext))

    def local(self, number: str, org: Organization | None) -> Extension | None:
        """The extension `number` names inside `org` (None: extended numbers only, in any
        organization the app sees)."""
        ext = self.directory.find_extension(number, org)
        if ext is None or (
            self.app is not None and not self.directory.sees_extension(self.app, ext)
        ):
            return None
        if org is None:
            return ext
        return ext if self.directory.owner(ext).organization == org.id else None

    def party(self, number: str, org: Organization | None) -> str:
        """How the call tracker names this party: the extended number, or the number."""
        ext = self.local(number, org)
        return ext.number if ext else number

    def phone(self, ext: Extension, node: str, code: str, what: str) -> str:
        """How `node` dials the phone of `ext` (through a trunk if it lives on another node);
        400 `code` if no phone rings on it or no trunk reaches it."""
        if not ext.channel:  # callback, conference: no phone rings on it
            raise invalid(
                code, f"{what} {ext.number} is a {ext.type} extension: no phone rings on it."
            )
        target = self.directory.dial_target(ext, node)
        if target is None:
            raise invalid(
                code,
                f"{what} {ext.number} is on Asterisk node {self.directory.node_of(ext)!r} and "
                f"the call is on node {node!r}: no trunk joins them.",
            )
        return target

    def target(
        self,
        number: str,
        org: Organization | None,
        node: str,
        code: str,
        what: str,
        *,
        acting: bool = False,
    ) -> str:
        """The dial target of a party on `node`: an extension of `org` (`acting`: one the app
        may act for) or a public number; 400 `code` for anything else."""
        ext = self.local(number, org)
        if ext is not None:
            if acting and ext.channel and not self.may_act_for(ext):
                raise invalid(
                    code, f"{what} {ext.number} is an extension this app may not act for."
                )
            return self.phone(ext, node, code, what)
        if self.directory.extended(number, org) is None and is_public_number(number):
            return self.directory.public_of(node).format(number=number)
        raise invalid(
            code,
            f"{what} {number!r} is neither an extension of the organization nor a public number.",
        )

    def public_numbers(self, items: list[str], org: Organization, code: str, what: str) -> None:
        """Refuses (400 `code`) any of `items` that is an extension, even of another
        organization, or not a public number."""
        for number in items:
            if self.directory.extended(number, org) is not None or not is_public_number(number):
                raise invalid(code, f"{what} {number[:40]!r} is not a public number.")
