"""One call to an API: paced, retried under the policy, and failed with a typed error.

Both clients send every request through ``ApiCaller.call``; each gives it its own
``StatusMapper`` (the one function per API that turns an error answer into an ``ApiError``,
like httpx's ``map_httpcore_exceptions``). Lower-level errors are translated here, once.
"""

from __future__ import annotations

__all__ = ["ApiCaller", "CallObserver", "StatusMapper", "observe_calls"]

import json
from collections.abc import Callable, Collection, Mapping
from typing import Any

import httpx
import stamina

from personio360.errors import ApiError, ApiUnavailable, MalformedResponse, RateLimited
from personio360.http.ratelimit import RateLimiter
from personio360.http.retry import RetryPolicy, TransientStatus, parse_retry_after

#: (response, method, path template) -> the typed error for a non-success answer.
StatusMapper = Callable[[httpx.Response, str, str], ApiError]
#: (service, method, path template, status or None for no answer, attempt number): told of every
#: attempt, so that metrics count calls, 429s and retries without touching each client (issue 14)
CallObserver = Callable[[str, str, str, int | None, int], None]
_observers: list[CallObserver] = []


def observe_calls(observer: CallObserver) -> None:
    """Tell ``observer`` of every attempt of every call from now on (idempotent per observer)."""
    if observer not in _observers:
        _observers.append(observer)


def _told(service: str, method: str, template: str, status: int | None, attempt: int) -> None:
    for observer in _observers:
        observer(service, method, template, status, attempt)


class ApiCaller:
    """Sends requests for one service through its limiter, retry policy and status map."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        service: str,
        limiter: RateLimiter,
        map_status: StatusMapper,
        policy: RetryPolicy | None = None,
    ) -> None:
        self.http = http
        self.service = service
        self.limiter = limiter
        self.map_status = map_status
        self.policy = policy or RetryPolicy()

    def call(
        self,
        method: str,
        template: str,
        *,
        url: str | None = None,
        path_params: Mapping[str, str | int] | None = None,
        params: Any = None,
        json_body: Any = None,
        data: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        kind: str = "read",
        ok: Collection[int] = (200,),
    ) -> httpx.Response:
        """Send one request, retrying what is transient; return a response whose status is in ``ok``.

        ``template`` names the endpoint in errors and logs (``/api/v2/users/{userId}``), never
        the filled-in URL: ids and filter values stay out of messages. ``url`` overrides the
        target (a pagination Link), keeping ``template`` for errors.
        """
        target = url or template.format(**(path_params or {}))
        try:
            for attempt in stamina.retry_context(
                on=self.policy.hook(method),
                attempts=self.policy.attempts,
                timeout=self.policy.timeout,
                wait_initial=self.policy.wait_initial,
                wait_max=self.policy.wait_max,
            ):
                with attempt:
                    self.limiter.acquire(kind)
                    try:
                        response = self.http.request(
                            method, target, params=params, json=json_body, data=data, headers=headers
                        )
                    except httpx.TransportError:
                        _told(self.service, method, template, None, attempt.num)
                        raise
                    _told(self.service, method, template, response.status_code, attempt.num)
                    if response.status_code == 429 or response.status_code >= 500:
                        raise TransientStatus(response)
        except TransientStatus as exc:
            raise self._exhausted(exc.response, method, template) from None
        except httpx.TransportError as exc:
            raise self._unreachable(exc, method, template) from None
        if response.status_code not in ok:
            raise self.map_status(response, method, template)
        return response

    def json(self, response: httpx.Response, method: str, template: str) -> Any:
        """The body of a success answer as JSON, or ``MalformedResponse``."""
        content_type = response.headers.get("content-type", "")
        if "json" not in content_type:
            raise MalformedResponse(
                f"expected JSON, got content type {content_type or '(none)'!r}",
                service=self.service, method=method, path=template, status=response.status_code,
            )
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise MalformedResponse(
                f"the answer is not valid JSON ({exc.__class__.__name__} at char {getattr(exc, 'pos', '?')})",
                service=self.service, method=method, path=template, status=response.status_code,
            ) from None

    def _exhausted(self, response: httpx.Response, method: str, template: str) -> ApiError:
        status = response.status_code
        if status == 429:
            return RateLimited(
                "rate limited, still after every retry",
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                service=self.service, method=method, path=template, status=status,
                hint="the API's rate limit was exceeded; wait a minute and run again",
            )
        mapped = self.map_status(response, method, template)
        return ApiUnavailable(
            f"server error, still after every retry ({mapped.message})",
            service=self.service, method=method, path=template, status=status,
            code=mapped.code, request_id=mapped.request_id,
            maybe_applied=method.upper() not in ("GET", "HEAD"),
            hint=f"{self.service} is failing; try again later",
        )

    def _unreachable(self, exc: httpx.TransportError, method: str, template: str) -> ApiUnavailable:
        never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        return ApiUnavailable(
            f"no answer ({exc.__class__.__name__})",
            service=self.service, method=method, path=template,
            maybe_applied=not never_sent and method.upper() not in ("GET", "HEAD"),
            hint=f"check that {self.service} is reachable at the configured base_url",
        )
