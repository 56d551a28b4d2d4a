"""Hold an emulator's HTTP exchanges to a vendor's published OpenAPI document (STYLE §7.7).

``OpenApiCheck("360learning-core-api.openapi.json")`` loads a document from ``shared/api/``
(found beside the repository, never at a fixed path) with openapi-core, once per process,
and validates an ``httpx`` request/response pair against it. The loopback URL of an emulator
is rewritten to the document's first server (``https://app.360learning.com``,
``https://api.personio.de/v1``...) before matching, so the document's own paths apply.

The loaded copy is normalised where openapi-core cannot read the vendor's intent, each case
named below; the document itself is never edited:

- deepObject filters (``mail[eq]=...``) declare ``properties`` without ``type: object``:
  ``type: object`` is added so openapi-core can deserialise them.
- OpenAPI 3.1 documents that still write ``nullable: true`` (360Learning's ``UpdateUserDTO``)
  get ``null`` added to the type, which is what ``nullable`` means.
- ``security`` is dropped: openapi-core has no provider for the ``oauth2`` scheme without
  flows (it only warns); the emulators' own tests check tokens.
- 360Learning's custom field ``value`` is a ``oneOf`` of two *string* branches, so every
  value matches both and strict validation fails by construction (360learning.md, "Quirks"):
  the branch is replaced by a non-empty string, and values are checked by their ``type``
  instead (``date`` = ``YYYY-MM-DD``).

Known limit: openapi-core reads one value per deepObject key, so list operators
(``type[in]=a&type[in]=b``) cannot be validated; test those filters without this check.
"""

from __future__ import annotations

__all__ = ["API_DIR", "OpenApiCheck"]

import copy
import json
import re
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import yaml
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from werkzeug.datastructures import Headers, ImmutableMultiDict

#: ``shared/api`` sits beside the repository checkout (``/work/main`` -> ``/work/shared/api``).
API_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "api"

_LINK = re.compile(r'^<[^<>]+>; rel="next"$')
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class OpenApiCheck:
    """Validate exchanges against one document; ``hooks`` plugs it into an ``httpx.Client``."""

    def __init__(self, filename: str, *, strip_prefix: str = "") -> None:
        self.filename = filename
        self.strip_prefix = strip_prefix
        self.api, server = _load(filename)
        parts = urlsplit(server)
        self._host = f"{parts.scheme}://{parts.netloc}"
        self._server_path = parts.path.rstrip("/")
        #: ``(METHOD, path template, status)`` of every validated exchange (coverage asserts).
        self.seen: set[tuple[str, str, int]] = set()

    # --- public API ---------------------------------------------------------------------

    def validate(self, request: httpx.Request, response: httpx.Response) -> None:
        """Validate the request and then the response; AssertionError names every problem."""
        self.validate_request(request)
        self.validate_response(request, response)

    def validate_request(self, request: httpx.Request) -> None:
        """Validate only the request (parameters, headers, body)."""
        adapted = _Request(request, self._host, self._path(request))
        problems = [_describe(e) for e in self.api.iter_request_errors(adapted)]
        problems += _custom_value_problems(request.url.path, request.content)
        self._fail_if(problems, request, None)

    def validate_response(self, request: httpx.Request, response: httpx.Response) -> None:
        """Validate only the response (status documented, headers, body schema)."""
        response.read()
        adapted = _Request(request, self._host, self._path(request))
        problems = [_describe(e) for e in
                    self.api.iter_response_errors(adapted, _Response(response))]
        link = response.headers.get("link")
        if link is not None and not _LINK.match(link):
            problems.append(f"Link header is not '<URL>; rel=\"next\"': {link!r}")
        if response.status_code < 300:
            problems += _custom_value_problems(request.url.path, response.content)
        self._fail_if(problems, request, response)
        template = self._template(adapted)
        if template is not None:
            self.seen.add((request.method, template, response.status_code))

    def hooks(self) -> dict[str, list[Callable[[httpx.Response], None]]]:
        """Event hooks for ``httpx.Client(event_hooks=...)``: validate every exchange."""
        return {"response": [lambda response: self.validate(response.request, response)]}

    # --- helpers ------------------------------------------------------------------------

    def _path(self, request: httpx.Request) -> str:
        path = request.url.path
        if self.strip_prefix and path.startswith(self.strip_prefix):
            path = path[len(self.strip_prefix):] or "/"
        if self._server_path and not path.startswith(self._server_path + "/"):
            path = self._server_path + path
        return path

    def _template(self, adapted: _Request) -> str | None:
        try:
            found = self.api.request_validator.path_finder.find(
                adapted.method, adapted.host_url + adapted.path)
        except Exception:  # an unknown path is reported by the validation itself
            return None
        return str(found.path.parts[-1])

    def _fail_if(self, problems: list[str], request: httpx.Request,
                 response: httpx.Response | None) -> None:
        if not problems:
            return
        what = f"{request.method} {request.url.path}"
        if response is not None:
            what += f" -> {response.status_code} {response.text[:300]!r}"
        listing = "\n  - ".join(problems)
        raise AssertionError(f"{self.filename}: {what} does not conform:\n  - {listing}")


@cache
def _load(filename: str) -> tuple[OpenAPI, str]:
    """Load, normalise (see the module docstring) and cache one document."""
    path = API_DIR / filename
    text = path.read_text(encoding="utf-8")
    data = json.loads(text) if filename.endswith(".json") else yaml.safe_load(text)
    data = _normalise(copy.deepcopy(data))
    server = data.get("servers", [{"url": "http://localhost"}])[0]["url"]
    return OpenAPI.from_dict(data, config=Config(spec_validator_cls=None),
                             base_uri=path.as_uri()), server


def _normalise(data: dict[str, Any]) -> dict[str, Any]:
    is_31 = str(data.get("openapi", "")).startswith("3.1")
    data.pop("security", None)
    for item in data.get("paths", {}).values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            operation.pop("security", None)
            for param in operation.get("parameters", []):
                schema = param.get("schema", {})
                if param.get("style") == "deepObject" and "properties" in schema:
                    schema.setdefault("type", "object")
    if is_31:
        for node in _walk(data):
            if node.pop("nullable", False) is True and isinstance(node.get("type"), str):
                node["type"] = [node["type"], "null"]
    value_dto = data.get("components", {}).get("schemas", {}).get("CustomFieldValueDTO")
    if value_dto is not None:
        value_dto["properties"]["value"] = {"type": "string", "minLength": 1}
    return data


def _walk(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from _walk(value)


def _custom_value_problems(path: str, content: bytes) -> list[str]:
    """Check custom field values by their ``type``, the OpenAPI's ``oneOf`` being unusable."""
    if not path.endswith("/custom-fields/values") or not content:
        return []
    try:
        body = json.loads(content)
    except ValueError:
        return []
    values = body.get("customValues", []) if isinstance(body, dict) else body
    problems = []
    for value in values if isinstance(values, list) else []:
        if not isinstance(value, dict):
            continue
        if value.get("type") == "date" and not _DATE.match(str(value.get("value", ""))):
            problems.append(f"date custom value is not YYYY-MM-DD: {value.get('value')!r}")
    return problems


def _describe(error: BaseException) -> str:
    """One line per validation error, following the exception chain down to schema errors."""
    parts = [repr(error)]
    cause: BaseException | None = error.__cause__
    while cause is not None:
        schema_errors = getattr(cause, "schema_errors", None)
        if schema_errors:
            parts += [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
                      for e in schema_errors]
        else:
            parts.append(str(cause) or repr(cause))
        cause = cause.__cause__
    return " <- ".join(parts)


class _Request:
    """openapi-core's request protocol over an ``httpx.Request``, moved to the spec's host."""

    def __init__(self, request: httpx.Request, host_url: str, path: str) -> None:
        self.host_url = host_url
        self.path = path
        self.method = request.method.lower()
        self.body: bytes | None = request.content or None
        self.content_type = request.headers.get("content-type", "application/json")
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(request.url.params.multi_items())),
            header=Headers(list(request.headers.multi_items())),
            cookie=ImmutableMultiDict(),
        )


class _Response:
    """openapi-core's response protocol over an ``httpx.Response``."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.data: bytes | None = response.content or None
        self.headers = Headers(list(response.headers.multi_items()))
        self.content_type = response.headers.get("content-type", "")
