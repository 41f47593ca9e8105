"""The docs name everything a user can configure, call or be answered: every config key of
config/bridge.example.yaml, every route (method and path) and every error code of
bridge/api/openapi.yaml must be mentioned in README.md or docs/*.md. The lists come from those two
files, so a key, route or code added there fails here until the docs say a word about it.

What counts as a mention:
- a config key: its dotted path in the text (`http.max_body`, `apps[].webhook_secret`), or the key
  in a ```yaml block of the docs (`http: {host: ...}` names `http.host`);
- a route: its path on a line that also names its method (`GET`, or `GET|PUT`), written whole
  (`/uapi/cdr/{userId}`, placeholders by any name), with optional parts (`/uapi/cdr[/{userId}]`)
  or from the end (`GET .../queue/agents`);
- an error code: the code as a word.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

TOP = Path(__file__).resolve().parent.parent
EXAMPLE = TOP / "config" / "bridge.example.yaml"
OPENAPI = TOP / "bridge" / "api" / "openapi.yaml"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

_PATH = re.compile(r"(?:\.\.\.)?/[A-Za-z0-9_.{}\[\]/*@$-]*")
_METHOD = re.compile(r"\b(GET|PUT|POST|DELETE|PATCH|HEAD|OPTIONS)\b")
_DOTTED = re.compile(r"\b[a-z_]+(?:\[\])?(?:\.[a-z_0-9]+(?:\[\])?)+")
_YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)


def docs_text() -> str:
    """README.md and every docs/*.md, one text."""
    pages = [TOP / "README.md", *sorted((TOP / "docs").glob("*.md"))]
    return "\n".join(p.read_text(encoding="utf-8") for p in pages)


def flatten(node: object, prefix: str = "") -> Iterator[str]:
    """The dotted leaf keys of a YAML value: a list of mappings as `key[].field`."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from flatten(value, f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(node, list) and any(isinstance(item, dict) for item in node):
        for item in node:
            yield from flatten(item, f"{prefix}[]")
    elif prefix:
        yield prefix


def config_keys() -> list[str]:
    """Every key config/bridge.example.yaml sets (its commented-out alternatives aside)."""
    return sorted(set(flatten(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")))))


def documented_keys(text: str) -> set[str]:
    keys = set(_DOTTED.findall(text))
    for block in _YAML_BLOCK.findall(text):
        try:
            keys.update(flatten(yaml.safe_load(block)))
        except yaml.YAMLError:
            continue  # an excerpt with elisions: its dotted names in the text still count
    return keys


@functools.cache
def openapi() -> dict[str, Any]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when there: 10x faster
    document: dict[str, Any] = yaml.load(OPENAPI.read_text(encoding="utf-8"), Loader=loader)
    return document


def routes() -> list[str]:
    """`METHOD /path` for every operation, under its server (`/uapi`, or `/` for the rest)."""
    document = openapi()
    default = str(document["servers"][0]["url"])
    found = []
    for path, item in document["paths"].items():
        base = str(item.get("servers", [{"url": default}])[0]["url"]).rstrip("/")
        found += [f"{m.upper()} {normal(base + path)}" for m in item if m in METHODS]
    return sorted(found)


def normal(path: str) -> str:
    """Placeholders without their names, no trailing slash, /unifiedapi as /uapi."""
    path = re.sub(r"\{[^}/]*\}", "{}", path).rstrip("/") or "/"
    return re.sub(r"^/unifiedapi(?=/|$)", "/uapi", path)


def expand(path: str) -> list[str]:
    """`/a[/b[/c]]` -> /a, /a/b, /a/b/c; an unclosed `[` ends the path."""
    start = path.find("[")
    if start < 0:
        return [path]
    depth = 0
    for end in range(start, len(path)):
        depth += {"[": 1, "]": -1}.get(path[end], 0)
        if depth == 0:
            head, inner, tail = path[:start], path[start + 1 : end], path[end + 1 :]
            return [head + t for t in expand(tail)] + [
                head + i + t for i in expand(inner) for t in expand(tail)
            ]
    return expand(path[:start])


def documented_routes(text: str) -> set[str]:
    """`METHOD /path` pairs named on one line; a `...` path as `METHOD ...<suffix>`."""
    found = set()
    for line in text.splitlines():
        methods = set(_METHOD.findall(line))
        for token in _PATH.findall(line):
            for path in expand(token):
                found |= {f"{m} {normal(path)}" for m in methods}
    return found


def is_documented(route: str, documented: set[str]) -> bool:
    if route in documented:
        return True
    method, path = route.split(" ", 1)
    return any(
        d.startswith(f"{method} ...") and path.endswith(d[len(method) + 4 :]) for d in documented
    )


def error_codes() -> list[str]:
    """Every `code` enum of the document's error answers."""
    codes: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            code = node.get("code")
            if isinstance(code, dict) and isinstance(code.get("enum"), list):
                codes.update(str(c) for c in code["enum"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(openapi())
    return sorted(codes)


def test_every_config_key_is_documented() -> None:
    keys = config_keys()
    assert len(keys) > 30, keys  # the example was read, not an empty file
    documented = documented_keys(docs_text())
    missing = [k for k in keys if k not in documented]
    assert not missing, f"config keys not in README.md or docs/*.md: {missing}"


def test_every_route_is_documented() -> None:
    all_routes = routes()
    assert "POST /uapi/phoneCalls/{}/simple" in all_routes
    assert "GET /healthz" in all_routes
    documented = documented_routes(docs_text())
    missing = [r for r in all_routes if not is_documented(r, documented)]
    assert not missing, f"routes not in README.md or docs/*.md: {missing}"


def test_every_error_code_is_documented() -> None:
    codes = error_codes()
    assert {"extension_invalid", "access_denied", "pce_limit_exceeded"} <= set(codes)
    words = set(re.findall(r"[\w-]+", docs_text()))
    missing = [c for c in codes if c not in words]
    assert not missing, f"error codes not in README.md or docs/*.md: {missing}"


@pytest.mark.parametrize(
    ("text", "route"),
    [
        ("`GET /uapi/cdr[/{userId}]`", "GET /uapi/cdr/{}"),
        ("`GET /uapi/cdr[/{userId}]`", "GET /uapi/cdr"),
        ("`GET|PUT .../queue/agents[/{identifier}]`", "PUT /uapi/extensions/{}/{}/queue/agents/{}"),
        (
            "`DELETE /unifiedapi/phoneCalls/{u}/{e}[/{id}][?phoneNumber=]`",
            "DELETE /uapi/phoneCalls/{}/{}",
        ),
        ("| `GET /healthz` |", "GET /healthz"),
    ],
)
def test_a_mention_counts(text: str, route: str) -> None:
    assert is_documented(route, documented_routes(text))


@pytest.mark.parametrize(
    ("text", "route"),
    [
        ("`GET /uapi/cdr`", "GET /uapi/cdr/{}"),  # a shorter path
        ("`POST /uapi/cdr/{userId}`", "GET /uapi/cdr/{}"),  # another method
        ("GET\n/uapi/cdr/{userId}", "GET /uapi/cdr/{}"),  # method and path on different lines
        ("`GET .../agents`", "GET /uapi/extensions/{}/{}/queue/agents/{}"),
    ],
)
def test_a_near_miss_does_not_count(text: str, route: str) -> None:
    assert not is_documented(route, documented_routes(text))


def test_keys_count_from_yaml_blocks_and_dotted_names() -> None:
    text = "```yaml\nhttp: {host: 0.0.0.0, tls: {cert: a.pem}}\n```\nand `apps[].empty_as_200`."
    assert {"http.host", "http.tls.cert", "apps[].empty_as_200"} <= documented_keys(text)
    assert "http.port" not in documented_keys(text)
