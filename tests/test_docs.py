"""The docs name everything a user can configure, call or be answered, and their links hold:
every config key of config/bridge.example.yaml is in docs/configuration.md, every route (method
and path) of bridge/api/openapi.yaml in README.md or docs/*.md, every error code of it in
docs/api.md, and every relative link of README.md and docs/*.md reaches an existing file (and
heading). The lists come from those files, so a key, route or code added there fails here until
the docs say a word about it.

What counts as a mention:
- a config key: its dotted path in the text (`http.max_body`, `apps[].webhook_secret`), or the key
  in a ```yaml block of the docs (`http: {host: ...}` names `http.host`);
- a route: its path on a line that also names its method (`GET`, or `GET|PUT`), written whole
  (`/uapi/cdr/{userId}`, placeholders by any name), with optional parts (`/uapi/cdr[/{userId}]`)
  or from the end (`GET .../queue/agents`);
- an error code: the code in backquotes (`` `pbx_busy` ``) in docs/api.md.
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
DOCS = TOP / "docs"
EXAMPLE = TOP / "config" / "bridge.example.yaml"
OPENAPI = TOP / "bridge" / "api" / "openapi.yaml"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

_PATH = re.compile(r"(?:\.\.\.)?/[A-Za-z0-9_.{}\[\]/*@$-]*")
_METHOD = re.compile(r"\b(GET|PUT|POST|DELETE|PATCH|HEAD|OPTIONS)\b")
_DOTTED = re.compile(r"\b[a-z_]+(?:\[\])?(?:\.[a-z_0-9]+(?:\[\])?)+")
_YAML_BLOCK = re.compile(r"^```yaml\n(.*?)^```", re.MULTILINE | re.DOTALL)


def pages() -> list[Path]:
    """README.md and every docs/*.md."""
    return [TOP / "README.md", *sorted(DOCS.glob("*.md"))]


def docs_text() -> str:
    """README.md and every docs/*.md, one text."""
    return "\n".join(p.read_text(encoding="utf-8") for p in pages())


def page_text(name: str) -> str:
    return (DOCS / name).read_text(encoding="utf-8")


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


# Keys config/bridge.example.yaml shows only in comments (optional sections, the list form of
# `ami:`), which YAML cannot read from there; each must still be named in the example's text.
COMMENTED_KEYS = (
    "http.tls.cert",
    "http.tls.key",
    "ami.ari.url",
    "ami.ari.username",
    "ami.ari.password",
    "ami.ari.timeout",
    "ami[].name",
    "ami[].trunks",
    "ami[].dialing.public",
    "storage.url",
    "extensions[].node",
    "apps[].organization",
    "apps[].admin",
)


def config_keys() -> list[str]:
    """Every key config/bridge.example.yaml sets, and those it shows in comments."""
    keys = set(flatten(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))))
    return sorted(keys | set(COMMENTED_KEYS))


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
    documented = documented_keys(page_text("configuration.md"))
    missing = [k for k in keys if k not in documented]
    assert not missing, f"config keys not in docs/configuration.md: {missing}"


def test_commented_keys_are_still_in_the_example() -> None:
    """COMMENTED_KEYS follows the example: a key it no longer shows must leave the list."""
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    comments = [line.split("#", 1)[1] for line in lines if "#" in line]
    gone = [k for k in COMMENTED_KEYS if not any(f"{k.rsplit('.', 1)[-1]}:" in c for c in comments)]
    assert not gone, f"not in config/bridge.example.yaml any more: {gone}"


def test_every_route_is_documented() -> None:
    all_routes = routes()
    assert "POST /uapi/phoneCalls/{}/simple" in all_routes
    assert "GET /healthz" in all_routes
    documented = documented_routes(docs_text())
    missing = [r for r in all_routes if not is_documented(r, documented)]
    assert not missing, f"routes not in README.md or docs/*.md: {missing}"


def documented_codes(text: str) -> set[str]:
    return set(re.findall(r"`([a-z_]+)`", text))


def test_every_error_code_is_documented() -> None:
    codes = error_codes()
    assert {"extension_invalid", "access_denied", "pce_limit_exceeded"} <= set(codes)
    documented = documented_codes(page_text("api.md"))
    missing = [c for c in codes if c not in documented]
    assert not missing, f"error codes not in docs/api.md: {missing}"


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


_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def prose(text: str) -> str:
    """The text without its fenced code blocks (a `# comment` there is no heading)."""
    return _FENCE.sub("", text)


def anchors(text: str) -> set[str]:
    """The ids GitHub gives the headings: lower case, punctuation dropped, spaces as `-`,
    a repeated one suffixed `-1`, `-2`, ..."""
    found: set[str] = set()
    for heading in _HEADING.findall(prose(text)):
        slug = re.sub(r"[^\w\- ]", "", heading.replace("`", "").lower()).replace(" ", "-")
        n, unique = 0, slug
        while unique in found:
            n += 1
            unique = f"{slug}-{n}"
        found.add(unique)
    return found


def broken_links(page: Path) -> list[str]:
    """The relative links of a page whose file (or heading) does not exist."""
    text = page.read_text(encoding="utf-8")
    broken = []
    for target in _LINK.findall(prose(text)):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):
            continue  # https:, mailto:: not ours to check here
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists() or not has_heading(file, anchor):
            broken.append(target)
    return broken


def has_heading(file: Path, anchor: str) -> bool:
    """No anchor, or not a page: nothing to check; else one of its headings has that id."""
    if not anchor or file.suffix != ".md":
        return True
    return anchor in anchors(file.read_text(encoding="utf-8"))


def test_every_relative_link_reaches_its_file_and_heading() -> None:
    checked = pages()
    assert len(checked) >= 7, checked  # README.md and the six pages of docs/
    broken = {p.name: b for p in checked if (b := broken_links(p))}
    assert not broken, f"links to nothing: {broken}"


def test_a_broken_link_is_found(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("# A heading, with `code`\n## Twice\n## Twice\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.md) [ok](there.md#a-heading-with-code) [ok](there.md#twice-1) [ok](#mine)\n"
        "# Mine\n[web](https://example.com/nothere) ![img](there.md)\n"
        "[no file](missing.md) [no heading](there.md#nothere) [no own heading](#other)\n"
        "```sh\n# not a heading\n[in code](nowhere.md)\n```\n[no code heading](#not-a-heading)\n"
    )
    assert broken_links(page) == [
        "missing.md",
        "there.md#nothere",
        "#other",
        "#not-a-heading",
    ]


def test_a_code_counts_only_in_backquotes() -> None:
    assert documented_codes("400 `pbx_busy`, or `user_invalid` (see user_missing)") == {
        "pbx_busy",
        "user_invalid",
    }
