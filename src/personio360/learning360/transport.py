"""How the 360Learning client talks: the version header, body validation, Link pagination.

The middle layer between ``wire`` (payload models) and ``client`` (the resources), like
httpx's transport: it sends through the shared ``ApiCaller`` and turns every body that is not
what the OpenAPI describes into a ``MalformedResponse`` that names the place, never the
values (a body may hold a token).
"""

from __future__ import annotations

__all__ = ["API_VERSION", "Transport", "malformed"]

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from personio360.errors import MalformedResponse
from personio360.http.caller import ApiCaller
from personio360.http.paging import LoopError, PageGuard
from personio360.learning360.status import SERVICE

#: "Every v2 call except the token call carries the header ``360-api-version: v2.0``".
API_VERSION = {"360-api-version": "v2.0"}

_M = TypeVar("_M", bound=BaseModel)
_T = TypeVar("_T")


class Transport:
    """Sends one 360Learning call and validates its answer; thread-safe (no state of its own)."""

    def __init__(self, caller: ApiCaller) -> None:
        self.caller = caller

    def call(
        self, method: str, template: str, *, path_params: Mapping[str, str] | None = None,
        params: Any = None, json_body: Any = None, url: str | None = None,
        kind: str | None = None, ok: Sequence[int] = (200,), versioned: bool = True,
    ) -> httpx.Response:
        """One call; reads are paced as ``read``, other methods as ``write`` unless told."""
        return self.caller.call(
            method, template, url=url, path_params=path_params, params=params,
            json_body=json_body, headers=API_VERSION if versioned else None,
            kind=kind or ("read" if method == "GET" else "write"), ok=ok,
        )

    def one(
        self, method: str, template: str, model: type[_M],
        path_params: Mapping[str, str] | None = None, *, json_body: Any = None,
    ) -> _M:
        """Call and validate a single-object answer."""
        response = self.call(method, template, path_params=path_params, json_body=json_body)
        return self.parse(model, response, method, template)

    def parse(self, model: type[_M], response: httpx.Response, method: str, template: str) -> _M:
        body = self.caller.json(response, method, template)
        try:
            return model.model_validate(body)
        except ValidationError as exc:
            raise _invalid(exc, method, template, response.status_code) from None

    def parse_list(
        self, item: type[_T], response: httpx.Response, method: str, template: str
    ) -> list[_T]:
        """A bare JSON array (the API's list bodies have no envelope) of ``item``."""
        body = self.caller.json(response, method, template)
        try:
            parsed: list[_T] = _list_of(item).validate_python(body)
        except ValidationError as exc:
            raise _invalid(exc, method, template, response.status_code) from None
        return parsed

    def pages(
        self, template: str, item: type[_T], *,
        path_params: Mapping[str, str] | None = None, params: Any = None,
    ) -> Iterator[_T]:
        """Every item of a list, following ``Link: <url>; rel="next"`` page by page.

        Guide "Pagination": the Link is present only when another page exists and its URL
        keeps the filters, so later pages are requested as given. ``PageGuard`` stops a server
        that sends a page twice or never ends.
        """
        guard = PageGuard()
        url: str | None = None
        while True:
            response = self.call("GET", template, path_params=path_params,
                                 params=params if url is None else None, url=url)
            if url is None:
                guard.visit(str(response.request.url))
            yield from self.parse_list(item, response, "GET", template)
            url = _next_page(response, template)
            if url is None:
                return
            try:
                guard.visit(url)
            except LoopError as exc:
                raise malformed("GET", template, response.status_code, str(exc)) from None


_ADAPTERS: dict[object, TypeAdapter[list[Any]]] = {}


def _list_of(item: object) -> TypeAdapter[list[Any]]:
    """One adapter per item type, built once (building one per page would dominate)."""
    adapter = _ADAPTERS.get(item)
    if adapter is None:  # a race only builds the same adapter twice
        adapter = _ADAPTERS[item] = TypeAdapter(list[item])  # type: ignore[valid-type]
    return adapter


def _next_page(response: httpx.Response, template: str) -> str | None:
    """The absolute URL of the next page, or ``None`` on the last one.

    The OpenAPI's example Link is relative (``<my/resource/url>``): it is resolved against the
    request URL. A Link to another host is refused, so the token never leaves 360Learning.
    """
    link = response.links.get("next", {}).get("url")
    if not link:
        return None
    here = response.request.url
    target = here.join(link)
    if (target.scheme, target.host, target.port) != (here.scheme, here.host, here.port):
        raise malformed("GET", template, response.status_code,
                        "the next-page Link points to another host")
    return str(target)


def malformed(method: str, template: str, status: int | None, message: str) -> MalformedResponse:
    """A ``MalformedResponse`` of this service."""
    return MalformedResponse(message, service=SERVICE, method=method, path=template,
                             status=status,
                             hint="the 360Learning answer is not what its API document describes")


def _invalid(exc: ValidationError, method: str, template: str, status: int) -> MalformedResponse:
    """A body of the wrong shape: where and what, never the values (they may be secrets)."""
    problems = exc.errors(include_input=False, include_url=False, include_context=False)
    shown = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(body)'}: {e['msg']}" for e in problems[:3]
    )
    more = f" (+{len(problems) - 3} more)" if len(problems) > 3 else ""
    return malformed(method, template, status,
                     f"the answer does not have the documented shape: {shown}{more}")
