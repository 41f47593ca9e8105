"""schemathesis hooks for tests/contract/test_fuzz.py: the bridge's own "no server error" check.

Loaded by `st run` through SCHEMATHESIS_HOOKS. It replaces schemathesis' `not_a_server_error`,
which fails on any 5xx: the bridge answers a method the document has no operation for (e.g. the
coverage phase's TRACE) with its documented 501 `request_not_implemented`, VoipNow's code for a
request the API lacks, documented once for every path as components.responses.NotImplemented
(the 501's body is held to it). Every other 5xx, and a 501 for a documented method, still fails.
"""

from __future__ import annotations

import json
from typing import Any

import schemathesis

from bridge.api.docs import document
from tests.contract.openapi_check import answer_problem

NOT_IMPLEMENTED = "request_not_implemented"


def _code(content: bytes | None) -> str | None:
    try:
        body = json.loads(content or b"")
        return str(body["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return None


def server_error(method: str, path: str, status: int, content: bytes | None) -> str | None:
    """Why a `status` answer to `method` on the document's `path` key is a server error."""
    if status < 500:
        return None
    documented = method.lower() in document()["paths"].get(path, {})
    if status == 501 and not documented:
        problem = answer_problem("NotImplemented", content)
        if problem is None:
            return None
        return f"{method.upper()} {path} answered 501, {problem}"
    what = "a documented operation" if documented else "an undocumented method"
    return (
        f"{method.upper()} {path} ({what}) answered {status} {_code(content)!r}; only "
        f"a 501 {NOT_IMPLEMENTED} to a method the document lacks is allowed"
    )


@schemathesis.check
def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx, a documented 501 `request_not_implemented` to an undocumented method aside."""
    method = response.request.method or case.method
    problem = server_error(method, case.operation.path, response.status_code, response.content)
    if problem is not None:
        raise AssertionError(problem)
    return None
