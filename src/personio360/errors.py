"""The whole error tree of personio360, one file, named by what happens next.

::

    Personio360Error                 .hint = the fix the CLI prints
    ├─ ConfigError                   exit 2; key path + file:line; every problem at once
    ├─ ApiError                      service, method, path template, status, code, request id
    │  ├─ ApiUnavailable             network error, timeout, or 5xx once retries are exhausted
    │  ├─ RateLimited                429 once retries are exhausted (keeps retry_after)
    │  ├─ AuthError                  401/403: bad credentials or missing scope
    │  ├─ NotFound                   404, with the API's own code and message
    │  ├─ Conflict                   409, with the API's own code and message
    │  ├─ Rejected                   400/422, with the API's own code and message
    │  └─ MalformedResponse          unexpected status, content type or body shape
    ├─ RunStopped                    exit 3: R10, R13a, API unreachable
    └─ RunLocked                     exit 4: another run holds the store's lock

An ``ApiError`` never carries headers, tokens or request bodies: only what helps an
administrator find the problem (service, method, path *template*, status, the API's own
error code and message, and the request id when the service sends one).
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "ApiUnavailable",
    "AuthError",
    "ConfigError",
    "ConfigProblem",
    "Conflict",
    "MalformedResponse",
    "NotFound",
    "Personio360Error",
    "RateLimited",
    "Rejected",
    "RunLocked",
    "RunStopped",
]

from dataclasses import dataclass


class Personio360Error(Exception):
    """Base of every expected failure; ``hint`` is the one-line fix the CLI prints."""

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One problem in the configuration: the dotted key, where it is, and what is wrong."""

    key: str
    message: str
    line: int | None = None
    file: str | None = None

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}: " if self.file and self.line else (
            f"{self.file}: " if self.file else ""
        )
        return f"{where}{self.key}: {self.message}" if self.key else f"{where}{self.message}"


class ConfigError(Personio360Error):
    """The configuration (file, environment, command line) is unusable: exit 2."""

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        problems: tuple[ConfigProblem, ...] = (),
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.problems = problems

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        lines = [self.message, *(f"  {p}" for p in self.problems)]
        return "\n".join(lines)


class ApiError(Personio360Error):
    """A call to Personio or 360Learning failed; never carries headers or secrets."""

    exit_code = 3

    def __init__(
        self,
        message: str,
        *,
        service: str,
        method: str,
        path: str,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.service = service
        self.method = method
        self.path = path
        self.status = status
        self.code = code
        self.request_id = request_id

    def __str__(self) -> str:
        status = f" {self.status}" if self.status is not None else ""
        code = f" [{self.code}]" if self.code else ""
        rid = f" (request id {self.request_id})" if self.request_id else ""
        return f"{self.service} {self.method} {self.path}{status}{code}: {self.message}{rid}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r})"


class ApiUnavailable(ApiError):
    """Network error, timeout or 5xx, still failing once retries are exhausted.

    ``maybe_applied`` is true when a write may have landed although no answer came back
    (a lost response): the caller must re-read before trying again (R14).
    """

    def __init__(self, message: str, *, maybe_applied: bool = False, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.maybe_applied = maybe_applied


class RateLimited(ApiError):
    """429 still answered once retries are exhausted."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: object) -> None:
        super().__init__(message, **kw)  # type: ignore[arg-type]
        self.retry_after = retry_after


class AuthError(ApiError):
    """401/403: the credentials are wrong, or lack a scope or a whitelisted attribute."""


class NotFound(ApiError):
    """404: the API says the object does not exist."""


class Conflict(ApiError):
    """409: the API refuses because of the object's current state."""


class Rejected(ApiError):
    """400/422: the API refuses the request's content (its own message says why)."""


class MalformedResponse(ApiError):
    """The answer is not what the published document describes (status, type or shape)."""


class RunStopped(Personio360Error):
    """The run stopped before any change (R10, R13a, an unreachable API): exit 3."""

    exit_code = 3


class RunLocked(Personio360Error):
    """Another run holds the state store's lock; this one changed nothing: exit 4."""

    exit_code = 4
