"""Notification targets: Apprise URLs checked for written-in secrets, filled from the environment,
masked for display, and sent to one by one (issue 14).

A secret inside a URL (an SMTP password, a Slack or Teams token) is written ``${NAME}`` in the
config and set in the environment or ``.env``, like every other secret (SPEC §3). The config
refuses a URL with a password or a token written in; ``mask`` shows scheme and host only.
"""

from __future__ import annotations

__all__ = ["Delivery", "Sender", "TargetResult", "apprise_sender", "check_url", "expand", "mask"]

import contextlib
import logging
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlsplit

from personio360.http.redact import RedactingFilter, redact

#: Apprise (and requests' urllib3 under it) log URLs, headers and payloads at DEBUG: redacted first
for _name in ("apprise", "urllib3.connectionpool"):
    logging.getLogger(_name).addFilter(RedactingFilter())

ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
#: Query parameters that carry a secret (Apprise's ``pass=``, ``token=``, ``key=``, ``apikey=`` ...)
_SECRET_PARAM = re.compile(r"(?i)(pass|secret|token|key|auth|sig|code)")
#: Apprise schemes whose host and path segments are the credential (tokens, webhook ids)
_TOKEN_SCHEMES = frozenset({
    "slack", "msteams", "workflow", "workflows", "discord", "tgram", "pover", "pbul", "gotify",
    "gotifys", "mmost", "mmosts", "rocket", "rockets", "zulip", "wxteams", "webex", "pagerduty",
    "opsgenie", "join", "ifttt", "twilio", "spush", "line", "pushme", "googlechat", "gchat",
    "guilded", "flock", "ryver", "kumulos", "office365", "o365", "sendgrid", "mailgun", "sparkpost",
})
#: Web hosts whose webhook URLs carry their secret in the path
_WEBHOOK_HOSTS = ("hooks.slack.com", "webhook.office.com", "outlook.office.com", "discord.com",
                  "discordapp.com", "chat.googleapis.com", "logic.azure.com")
_PLACEHOLDER = "ENVREF{}X"


def check_url(url: str) -> str:
    """An Apprise URL as the config may write it: no password or token written in (SPEC §3).

    Messages never repeat the URL, only its masked form: it may hold the very secret refused."""
    url = url.strip()
    if ENV_REFERENCE.fullmatch(url):
        return url  # the whole URL from the environment
    scheme = _SCHEME.match(url)
    if not scheme:
        raise ValueError("is not an Apprise URL such as mailtos://user:${SMTP_PASSWORD}@smtp.example.com "
                         "or slack://${SLACK_TOKENS}/#channel")
    refs: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        refs.append(match.group(0))
        return _PLACEHOLDER.format(len(refs) - 1)

    plain = ENV_REFERENCE.sub(placeholder, url)
    parts = urlsplit(plain)
    shown = mask(url)
    netloc = parts.netloc
    if "@" in netloc:
        userinfo = netloc.rsplit("@", 1)[0]
        if ":" in userinfo and not _is_ref(userinfo.split(":", 1)[1]):
            raise ValueError(f"the password of {shown} is written in the config file; write it as "
                             "${NAME} (e.g. ${SMTP_PASSWORD}) and set NAME in the environment or .env")
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if _SECRET_PARAM.search(key) and value and not _is_ref(value):
            raise ValueError(f"the {key}= parameter of {shown} is written in the config file; write it as "
                             "${NAME} and set NAME in the environment or .env")
    name = scheme.group(1).lower()
    host = (parts.hostname or "").lower()
    segments = [netloc.rsplit("@", 1)[-1], *parts.path.split("/")]
    if name in _TOKEN_SCHEMES:
        for segment in segments:
            if _looks_like_token(segment):
                raise ValueError(f"{shown} has a token written in the config file; write the tokens as "
                                 "${NAME} (e.g. slack://${SLACK_TOKENS}/#channel) and set NAME in the "
                                 "environment or .env")
    elif host.endswith(_WEBHOOK_HOSTS) and not refs:
        raise ValueError(f"the webhook URL {shown} carries its secret in the path; write it as ${{NAME}} "
                         "and set NAME in the environment or .env")
    return url


def _is_ref(text: str) -> bool:
    return re.fullmatch(r"ENVREF\d+X", text) is not None


def _looks_like_token(segment: str) -> bool:
    """A path segment that is not a reference and looks like a credential: long, or letters and digits."""
    segment = segment.strip()
    if not segment or ENV_REFERENCE.search(segment) or "ENVREF" in segment or segment[0] in "#@+":
        return False
    mixed = any(c.isdigit() for c in segment) and any(c.isalpha() for c in segment)
    return len(segment) >= 20 or (len(segment) >= 8 and mixed)


def expand(url: str, values: Mapping[str, str]) -> str:
    """``url`` with each ``${NAME}`` replaced by its value; inside the user part or the query the
    value is percent-encoded (a password may hold ``@`` or ``/``), elsewhere kept as written
    (``${SLACK_TOKENS}`` may stand for ``T000/B000/XXXX``)."""
    if ENV_REFERENCE.fullmatch(url.strip()):
        return values.get(ENV_REFERENCE.fullmatch(url.strip()).group(1), "")  # type: ignore[union-attr]
    out, last = [], 0
    start = (_SCHEME.match(url).end() if _SCHEME.match(url) else 0)  # type: ignore[union-attr]
    rest = url[start:]
    at = rest.split("/", 1)[0].rfind("@")
    user_end = start + at if at >= 0 else start
    query_start = url.find("?")
    for match in ENV_REFERENCE.finditer(url):
        value = values.get(match.group(1), "")
        encode = match.start() < user_end or (0 <= query_start < match.start())
        out += [url[last:match.start()], quote(value, safe="") if encode else value]
        last = match.end()
    out.append(url[last:])
    return "".join(out)


def mask(url: str) -> str:
    """What a page or a log may show of a target: its scheme and host, never a user, password,
    token or path (``mailtos://smtp.example.com``, ``slack://…``)."""
    url = url.strip()
    scheme = _SCHEME.match(url)
    if not scheme:
        return "(from the environment)" if ENV_REFERENCE.fullmatch(url) else "(not a URL)"
    name = scheme.group(1).lower()
    if name in _TOKEN_SCHEMES:
        return f"{name}://…"
    plain = ENV_REFERENCE.sub("x", url)
    try:
        parts = urlsplit(plain)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        host, port = "", ""
    if ENV_REFERENCE.search(url.split("://", 1)[1].split("/", 1)[0].rsplit("@", 1)[-1]):
        host, port = "(host from the environment)", ""
    return f"{name}://{host}{port}" if host else f"{name}://…"


@dataclass(frozen=True, slots=True)
class TargetResult:
    """How sending to one target went: its masked name, and why it failed (redacted), if it did."""

    target: str
    ok: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message to send: a title and a plain-text body; ``failure`` picks Apprise's look."""

    title: str
    body: str
    failure: bool = True


#: Sends one delivery to each target (expanded URLs), one result per target, in order.
Sender = Callable[[Sequence[str], Delivery], list[TargetResult]]


def apprise_sender(urls: Sequence[str], delivery: Delivery) -> list[TargetResult]:
    """Send through Apprise, one target at a time so that each result is known; never raises."""
    with warnings.catch_warnings():  # Apprise's plugins import imghdr, deprecated since Python 3.11
        warnings.simplefilter("ignore", DeprecationWarning)
        with contextlib.suppress(ImportError):  # gone in 3.13, where Apprise no longer asks for it
            import imghdr  # noqa: F401, PLC0415 (imported once, quietly, for Apprise)
        import apprise  # noqa: PLC0415 (Apprise loads its plugins on import: only when sending)

    results = []
    for url in urls:
        shown = mask(url)
        app = apprise.Apprise()
        with apprise.LogCapture(level=logging.WARNING) as captured:  # type: ignore[no-untyped-call]
            if not app.add(url):
                results.append(TargetResult(shown, False, "Apprise does not understand this URL"))
                continue
            try:
                ok = bool(app.notify(body=delivery.body, title=delivery.title,
                                     notify_type=apprise.NotifyType.FAILURE if delivery.failure
                                     else apprise.NotifyType.SUCCESS))
            except Exception as exc:  # a plugin's bug must not fail a run
                ok, captured_text = False, f"{type(exc).__name__}: {exc}"
            else:
                captured_text = captured.getvalue()
        error = None if ok else _reason(captured_text, url)
        results.append(TargetResult(shown, ok, error))
    return results


def _reason(text: str, url: str) -> str:
    """The last line Apprise logged about the failure, without the URL or any secret."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    reason = lines[-1] if lines else "the target refused the message or could not be reached"
    reason = reason.replace(url, mask(url))
    return redact(reason)[:300]
