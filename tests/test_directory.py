"""Directory: who may act for whom, and short and extended extension numbers."""

from __future__ import annotations

import pytest

from bridge.config import Config
from bridge.directory import Directory, is_public_number
from bridge.errors import ApiError


@pytest.fixture
def directory(config: Config) -> Directory:
    """The demo directory."""
    return Directory(config)


def app(directory: Directory, name: str):  # type: ignore[no-untyped-def]
    return directory.apps[name]


def test_me_is_the_apps_user(directory: Directory) -> None:
    """@me and @viewer resolve to a user app's own user."""
    crm = app(directory, "crm")
    assert directory.resolve_user(crm, "@me", "x").id == "12"  # type: ignore[union-attr]
    assert directory.resolve_user(crm, "@viewer", "x").id == "12"  # type: ignore[union-attr]
    assert directory.resolve_user(crm, "@owner", "x") is None


@pytest.mark.parametrize("name", ["helpdesk", "admin"])
def test_me_needs_a_user_app(directory: Directory, name: str) -> None:
    """An organization or admin app must name a user instead of @me: 400 user_invalid."""
    with pytest.raises(ApiError) as info:
        directory.resolve_user(app(directory, name), "@me", "x")
    assert (info.value.status, info.value.code) == (400, "user_invalid")


@pytest.mark.parametrize(
    ("name", "user", "allowed"),
    [
        ("crm", "12", True),
        ("crm", "13", False),  # a user app acts only for its user
        ("helpdesk", "13", True),  # an organization app acts for its organization's users
        ("crm", "30", None),  # another organization's user: as unknown as user 999
        ("helpdesk", "30", None),
        ("admin", "30", True),
    ],
)
def test_access_rules(directory: Directory, name: str, user: str, allowed: bool | None) -> None:
    """Each kind of app may act only for the users the spec allows, else the route's code;
    a user of another organization is answered exactly like an unknown one."""
    a = app(directory, name)
    if allowed:
        assert directory.resolve_user(a, user, "pce_access_denied").id == user  # type: ignore[union-attr]
        return
    with pytest.raises(ApiError) as info:
        directory.resolve_user(a, user, "pce_access_denied")
    if allowed is False:
        assert info.value.code == "pce_access_denied"
        return
    with pytest.raises(ApiError) as unknown:
        directory.resolve_user(a, "999", "pce_access_denied")
    assert (info.value.code, info.value.message.replace(user, "N")) == (
        "user_invalid",
        unknown.value.message.replace("999", "N"),
    )


def test_unknown_user(directory: Directory) -> None:
    """An unknown numeric user id is 400 user_invalid."""
    with pytest.raises(ApiError, match="user_invalid"):
        directory.resolve_user(app(directory, "admin"), "999", "x")


def test_short_and_extended_numbers(directory: Directory) -> None:
    """A short number resolves inside the organization; the extended form is used everywhere."""
    org3 = directory.organizations["3"]
    assert directory.find_extension("210", org3).number == "0003*210"  # type: ignore[union-attr]
    assert directory.find_extension("0003*210", None).number == "0003*210"  # type: ignore[union-attr]
    assert directory.find_extension("300", org3) is None  # 300 lives in organization 4
    assert directory.find_extension("0003*999", org3) is None


def test_extension_must_belong_to_the_user(directory: Directory) -> None:
    """A path extension owned by someone else is 400 extension_invalid."""
    crm = app(directory, "crm")
    user = directory.users["12"]
    assert directory.resolve_extension(crm, user, "210").number == "0003*210"
    with pytest.raises(ApiError, match="extension_invalid"):
        directory.resolve_extension(crm, user, "024")


def test_extension_of_another_organization_is_unknown(directory: Directory) -> None:
    """@owner with an extension of another organization is answered like a number that does
    not exist (same code, same message), so nothing leaks about other organizations."""
    helpdesk = app(directory, "helpdesk")
    with pytest.raises(ApiError) as info:
        directory.resolve_extension(helpdesk, None, "0004*300", "pce_access_denied")
    with pytest.raises(ApiError) as unknown:
        directory.resolve_extension(helpdesk, None, "0004*399", "pce_access_denied")
    assert info.value.code == unknown.value.code == "extension_invalid"
    assert info.value.message.replace("300", "N") == unknown.value.message.replace("399", "N")


def test_self_lists_the_users_extensions(directory: Directory) -> None:
    """@self names every extension of the user."""
    exts = directory.scope_extensions(app(directory, "crm"), directory.users["12"], "@self")
    assert sorted(e.number for e in exts) == [
        "0003*026",
        "0003*210",
        "0003*212",
        "0003*250",
        "0003*260",
    ]


def test_extension_by_channel(directory: Directory) -> None:
    """A channel name maps back to its extension, case-insensitively."""
    assert directory.extension_by_channel("pjsip/024").number == "0003*024"  # type: ignore[union-attr]
    assert directory.extension_by_channel("PJSIP/999") is None


@pytest.mark.parametrize(
    ("number", "ok"),
    [
        ("5551234", True),
        ("+4930123", True),
        ("0003*210", False),
        ("", False),
        ("12a", False),
        ("1\r\n2", False),
        ("123\n", False),
    ],
)
def test_public_numbers(number: str, ok: bool) -> None:
    """Public numbers are digits with an optional leading +."""
    assert is_public_number(number) is ok
