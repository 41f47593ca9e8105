"""The bridge's own error tree; foreign errors are converted into these where they enter."""

from __future__ import annotations


class BridgeError(Exception):
    """Base of every error the bridge raises on purpose."""


class ConfigError(BridgeError):
    """The configuration has problems; `problems` lists every one, by dotted path."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


class TaskFailed(BridgeError):
    """A supervised background task kept crashing; the daemon exits non-zero."""


class PbxUnavailable(BridgeError):
    """Asterisk is not connected (or the link dropped before the action was answered)."""


class AmiActionTimeout(PbxUnavailable):
    """Asterisk did not answer an action in time."""


class AmiActionFailed(BridgeError):
    """Asterisk answered an action with an error response."""

    def __init__(self, action: str, message: str) -> None:
        super().__init__(f"{action}: {message}")
        self.action = action
        self.message = message


class AmiInjection(BridgeError, ValueError):
    """A value for an AMI action holds CR, LF or NUL; it was never sent."""


class ApiError(BridgeError):
    """An error the HTTP API answers with: status, UAPI code and a human message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def invalid(code: str, message: str) -> ApiError:
    """A 400 with a UAPI code: the usual answer to bad input."""
    return ApiError(400, code, message)


class Refused(ApiError):
    """A request refused for a limit (#21): 429 rate_limited, 409 pc_limit_exceeded.

    `limit` names it in `uapi_limited_total` and the log; `retry_after` (whole seconds) is sent
    as Retry-After when given.
    """

    def __init__(
        self, status: int, code: str, limit: str, retry_after: int | None, message: str
    ) -> None:
        super().__init__(status, code, message)
        self.limit = limit
        self.retry_after = retry_after


class PbxBusy(BridgeError):
    """A node's Originate queue (`ami.originate_queue`) is full: nothing was sent (503
    pbx_busy with Retry-After)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after
