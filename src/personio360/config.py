"""The configuration (SPEC §3): a TOML file validated by pydantic, secrets from the environment.

``load_config(path)`` reads the file, refuses secrets written into it, validates everything
and reports every problem at once, each with its dotted key and the file line
(``ConfigError``). Credentials come from the environment or a ``.env`` file beside the
config (or in the working directory), never from the TOML, and are held as ``SecretStr``.
"""

from __future__ import annotations

__all__ = [
    "CONFIG_ENV",
    "DEFAULT_CONFIG",
    "Credentials",
    "GroupSettings",
    "NotifySettings",
    "NotifyTarget",
    "Settings",
    "WebhookSecrets",
    "WriteCredentials",
    "WritebackItem",
    "WritebackSettings",
    "find_config",
    "load_config",
    "load_config_text",
    "load_credentials",
    "load_notify_urls",
    "load_webhook_secrets",
    "load_write_credentials",
    "parse_duration",
]

import ipaddress
import math
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from personio360.errors import ConfigError, ConfigProblem

DEFAULT_CONFIG = "personio360.toml"
CONFIG_ENV = "PERSONIO360_CONFIG"

#: Keys that would hold a secret: refused in the TOML whatever table they are in.
_SECRET_KEYS = re.compile(r"(?i)(secret|password|token|client_id|api_key|apikey)")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_OBJECT_ID = re.compile(r"^[a-fA-F0-9]{24}$")
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_ATTRIBUTE = re.compile(r"^[a-z][a-z0-9_]*$")


def parse_duration(value: str) -> timedelta:
    """A duration as the config writes it (``"30s"``, ``"15m"``, ``"24h"``, ``"2d"``)."""
    match = _DURATION.match(value)
    if not match or int(match.group(1)) == 0:
        raise ValueError(f'{value!r} is not a duration such as "30m", "1h" or "1d"')
    unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


def _duration(value: str) -> str:
    parse_duration(value)
    return value.strip()


class _Model(BaseModel):
    """Strict: TOML has real booleans and numbers, so ``enabled = "yes"`` is a wrong type, not true."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class PersonioSettings(_Model):
    base_url: str = "https://api.personio.de"
    #: X-Personio-Partner-ID / X-Personio-App-ID (Personio asks for UPPER_SNAKE_CASE values)
    partner_id: str = Field(default="PERSONIO360", min_length=1)
    app_id: str = Field(default="PERSONIO360", min_length=1)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)


class Learning360Settings(_Model):
    base_url: str = "https://app.360learning.com"
    connector_admin_email: str
    external_id_platform: str = Field(default="personio", min_length=1)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_url(value)

    @field_validator("connector_admin_email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip()
        if not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an email address")
        return value


FilterValue = str | int | bool | list[str | int | bool]


class GroupSettings(_Model):
    """One synced group: its 360Learning id, whether it is active, and its scope filter (R1)."""

    id: str
    enabled: bool = True
    where: dict[str, FilterValue] = Field(default_factory=dict)

    @field_validator("id")
    @classmethod
    def _object_id(cls, value: str) -> str:
        if not _OBJECT_ID.match(value):
            raise ValueError(f"{value!r} is not a 360Learning group id (24 hexadecimal characters)")
        return value.lower()

    @field_validator("where")
    @classmethod
    def _attributes(cls, value: dict[str, FilterValue]) -> dict[str, FilterValue]:
        for key, wanted in value.items():
            _check_attribute(key)
            if isinstance(wanted, list) and not wanted:
                raise ValueError(f"the filter on {key!r} lists no value")
        return value

    def accepted(self, attribute: str) -> tuple[str, ...]:
        """The filter's accepted values for ``attribute``, as text."""
        wanted = self.where[attribute]
        values = wanted if isinstance(wanted, list) else [wanted]
        return tuple(str(v) for v in values)


class GroupStructure(_Model):
    levels: list[str] = Field(default_factory=list)

    @field_validator("levels")
    @classmethod
    def _levels(cls, value: list[str]) -> list[str]:
        for key in value:
            _check_attribute(key)
        if len(set(value)) != len(value):
            raise ValueError("a level is listed twice")
        return value


class Safety(_Model):
    max_deletions: int | str | None = None
    leavers: Literal["delete", "deactivate"] = "delete"
    #: ``sync --plan`` refuses a saved plan older than this (issue 8): its inputs are stale
    plan_max_age: str = "24h"
    #: R13b/R17: ``max_deletions`` is a budget over this sliding window, shared by every run
    deletion_window: str = "24h"

    @field_validator("plan_max_age", "deletion_window")
    @classmethod
    def _durations(cls, value: str) -> str:
        return _duration(value)

    @property
    def max_plan_age(self) -> timedelta:
        """``plan_max_age`` as a duration."""
        return parse_duration(self.plan_max_age)

    @property
    def window(self) -> timedelta:
        """``deletion_window`` as a duration (R13b across runs, R17)."""
        return parse_duration(self.deletion_window)

    @field_validator("max_deletions", mode="before")
    @classmethod
    def _threshold(cls, value: object) -> int | str | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError('must be a number of users or a percentage such as "5%"')
        if isinstance(value, int):
            if value < 0:
                raise ValueError("must be 0 or more")
            return value
        match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", value)
        if not match or not 0 <= float(match.group(1)) <= 100:
            raise ValueError(f"{value!r} is neither a number of users nor a percentage between 0% and 100%")
        return f"{match.group(1)}%"

    def deletion_limit(self, managed_users: int) -> int:
        """R13b: the most deletions a run applies without ``--allow-deletions``.

        Default: 10 users or 5% of managed users, whichever is larger.
        """
        if self.max_deletions is None:
            return max(10, math.floor(managed_users * 0.05))
        if isinstance(self.max_deletions, int):
            return self.max_deletions
        return math.floor(managed_users * float(self.max_deletions.rstrip("%")) / 100)


class Schedule(_Model):
    """The full sync's interval; unset, ``"1h"``, or ``"24h"`` while changes are on (R17):
    the changes runs carry the day, the full sync is the safety net."""

    every: str | None = None

    @field_validator("every")
    @classmethod
    def _every(cls, value: str | None) -> str | None:
        return None if value is None else _duration(value)


class ChangesSettings(_Model):
    """R17: near-real-time changes runs (``serve`` and ``schedule`` in production)."""

    #: how often Personio's ``updated_since`` is polled; ``"off"``: webhooks and full syncs only
    poll_every: str = "1m"
    #: R17's cursor overlap: Personio documents no time zone for ``updated_since``, so each
    #: poll asks again for a margin before the last one (employees unchanged since are skipped)
    overlap: str = "15m"
    #: a burst of deliveries within this long is one changes run
    coalesce: str = "1s"

    @field_validator("poll_every")
    @classmethod
    def _poll(cls, value: str) -> str:
        return "off" if value.strip() == "off" else _duration(value)

    @field_validator("overlap", "coalesce")
    @classmethod
    def _others(cls, value: str) -> str:
        return _duration(value)

    @property
    def poll_interval(self) -> timedelta | None:
        return None if self.poll_every == "off" else parse_duration(self.poll_every)

    @property
    def overlap_delta(self) -> timedelta:
        return parse_duration(self.overlap)

    @property
    def coalesce_delay(self) -> timedelta:
        return parse_duration(self.coalesce)


class WebhooksSettings(_Model):
    """R17: where Personio and 360Learning reach ``serve`` (``webhooks setup`` registers it)."""

    public_url: str
    #: the Personio tenant whose deliveries ``/hooks/personio`` accepts (its ``company_id``);
    #: unset: any delivery carrying the right token (docs/webhooks.md)
    personio_company_id: str | None = Field(default=None, min_length=1)

    @field_validator("personio_company_id", mode="before")
    @classmethod
    def _company_id(cls, value: object) -> object:
        """A numeric id may be written as a TOML number; deliveries carry it as a string."""
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("public_url")
    @classmethod
    def _public(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"{value!r} is not an https:// URL")
        if parts.scheme == "http" and not _loopback(parts.hostname):
            raise ValueError(f"{value!r} must use https:// (plain http only for loopback "
                             "addresses, such as the emulators')")
        return value.strip().rstrip("/")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class StateSettings(_Model):
    url: str | None = None


_CUSTOM_ATTRIBUTE = re.compile(r"^dynamic_\d+$")


class WritebackItem(_Model):
    """R18: one path or course (by id) whose completion is written to a Personio custom attribute."""

    path: str | None = None
    course: str | None = None
    attribute: str
    value: Literal["completed_at", "status", "score"]

    @field_validator("path", "course")
    @classmethod
    def _object_id(cls, value: str | None) -> str | None:
        if value is not None and not _OBJECT_ID.match(value):
            raise ValueError(f"{value!r} is not a 360Learning id (24 hexadecimal characters)")
        return value.lower() if value else value

    @field_validator("attribute")
    @classmethod
    def _custom(cls, value: str) -> str:
        if not _CUSTOM_ATTRIBUTE.match(value):
            raise ValueError(f"{value!r} is not a Personio custom attribute (dynamic_NNNN): only "
                             "custom attributes are written")
        return value

    @model_validator(mode="after")
    def _one_source(self) -> WritebackItem:
        if (self.path is None) == (self.course is None):
            raise ValueError("give either path or course (one 360Learning id), not both or neither")
        return self

    @property
    def kind(self) -> str:
        return "path" if self.path is not None else "course"

    @property
    def item_id(self) -> str:
        return self.path or self.course or ""


class WritebackSettings(_Model):
    """R18: completions of these paths and courses written back to Personio (off without the table)."""

    enabled: bool = True
    items: Annotated[list[WritebackItem], Field(min_length=1)]

    @field_validator("items")
    @classmethod
    def _distinct(cls, items: list[WritebackItem]) -> list[WritebackItem]:
        seen: dict[str, int] = {}
        for index, item in enumerate(items):
            if item.attribute in seen:
                raise ValueError(f"the attribute {item.attribute} is written by writeback.items"
                                 f"[{seen[item.attribute]}] and [{index}]: each attribute holds one value")
            seen[item.attribute] = index
        return items


#: What ``[notify] on`` chooses among (issue 14); all of them by default.
NOTIFY_EVENTS = ("run_failed", "deletions_held_back", "employees_skipped", "feed_lagging",
                 "webhook_disabled", "recovered")
NotifyEvent = Literal["run_failed", "deletions_held_back", "employees_skipped", "feed_lagging",
                      "webhook_disabled", "recovered"]
#: ``${NAME}``: a secret of a notification URL, taken from the environment or ``.env``
ENV_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def _notify_url(url: str) -> str:
    """Each URL on its own, so that an error names ``notify.urls[N]``."""
    from personio360.notify.targets import check_url  # noqa: PLC0415 (notify imports config)

    return check_url(url)


class NotifySettings(_Model):
    """Issue 14: where problems are sent (Apprise URLs), which ones, and how often again."""

    urls: list[Annotated[str, AfterValidator(_notify_url)]] = Field(default_factory=list)
    on: list[NotifyEvent] = Field(default_factory=lambda: list(NOTIFY_EVENTS))  # type: ignore[arg-type]
    lag_after: str = "15m"
    remind_every: str = "24h"

    @field_validator("on")
    @classmethod
    def _on(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("an event is listed twice")
        return value

    @field_validator("lag_after", "remind_every")
    @classmethod
    def _durations(cls, value: str) -> str:
        return _duration(value)


class Settings(_Model):
    """The whole validated configuration; ``source`` is the file it came from."""

    environment: Literal["test", "production"]
    personio: PersonioSettings = Field(default_factory=PersonioSettings)
    learning360: Learning360Settings
    groups: Annotated[list[GroupSettings], Field(min_length=1)]
    group_structure: GroupStructure = Field(default_factory=GroupStructure)
    custom_fields: dict[str, str] = Field(default_factory=dict)
    safety: Safety = Field(default_factory=Safety)
    schedule: Schedule = Field(default_factory=Schedule)
    changes: ChangesSettings | None = None
    webhooks: WebhooksSettings | None = None
    state: StateSettings = Field(default_factory=StateSettings)
    notify: NotifySettings = Field(default_factory=NotifySettings)
    writeback: WritebackSettings | None = None
    source: Path | None = Field(default=None, exclude=True)

    @field_validator("custom_fields")
    @classmethod
    def _custom_fields(cls, value: dict[str, str]) -> dict[str, str]:
        names: dict[str, str] = {}
        for attribute, name in value.items():
            _check_attribute(attribute)
            if not name.strip():
                raise ValueError(f"the 360Learning field name for {attribute!r} is empty")
            key = name.strip().casefold()
            if key in names:
                raise ValueError(f"{names[key]!r} and {attribute!r} both map to the field {name!r}")
            names[key] = attribute
        return value

    @field_validator("groups")
    @classmethod
    def _distinct_groups(cls, groups: list[GroupSettings]) -> list[GroupSettings]:
        seen: set[str] = set()
        for group in groups:
            if group.id in seen:
                raise ValueError(f"the group {group.id} is listed twice in [[groups]]")
            seen.add(group.id)
        return groups

    @property
    def state_url(self) -> str:
        """The state store's URL: one store per environment by default (R12)."""
        if self.state.url:
            return self.state.url
        base = self.source.parent if self.source else Path.cwd()
        return f"sqlite:///{base / f'personio360-{self.environment}.db'}"

    @property
    def changes_on(self) -> bool:
        """R17: a ``[changes]`` or ``[webhooks]`` table turns changes runs on (production)."""
        return self.changes is not None or self.webhooks is not None

    @property
    def changes_or_default(self) -> ChangesSettings:
        return self.changes or ChangesSettings()

    @property
    def full_sync_every(self) -> str:
        """The full sync's interval as written: ``[schedule] every``, else 1h (24h with changes on)."""
        return self.schedule.every or ("24h" if self.changes_on else "1h")

    @property
    def full_sync_interval(self) -> timedelta:
        return parse_duration(self.full_sync_every)

    @property
    def writeback_on(self) -> bool:
        """R18: a ``[writeback]`` table, not disabled."""
        return self.writeback is not None and self.writeback.enabled

    @property
    def enabled_groups(self) -> tuple[GroupSettings, ...]:
        return tuple(g for g in self.groups if g.enabled)

    def attributes_named(self) -> dict[str, str]:
        """Every Personio attribute the config names, with where it is named (for R11)."""
        named: dict[str, str] = {}
        for index, group in enumerate(self.groups):
            for key in group.where:
                named.setdefault(key, f"groups[{index}].where")
        for key in self.group_structure.levels:
            named.setdefault(key, "group_structure.levels")
        for key in self.custom_fields:
            named.setdefault(key, "custom_fields")
        if self.writeback_on:
            assert self.writeback is not None
            for index, item in enumerate(self.writeback.items):  # R18 compares before writing
                named.setdefault(item.attribute, f"writeback.items[{index}].attribute")
        return named


class Credentials(_Model):
    """The four secrets, from the environment or ``.env``; never from the TOML (SPEC §3)."""

    personio_client_id: SecretStr
    personio_client_secret: SecretStr
    learning360_client_id: SecretStr
    learning360_client_secret: SecretStr


#: Credentials field -> environment variable: the same name in capitals (PERSONIO_CLIENT_ID ...).
_CREDENTIAL_VARS = {field: field.upper() for field in Credentials.model_fields}


def find_config(path: str | os.PathLike[str] | None) -> Path:
    """The config file to use: ``--config``, else ``$PERSONIO360_CONFIG``, else ``personio360.toml``."""
    chosen = path or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG
    return Path(chosen)


def load_config(path: str | os.PathLike[str] | None = None) -> Settings:
    """Read, check and validate the config file; every problem is reported at once."""
    file = find_config(path)
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"no config file at {file}",
            hint="pass --config PATH, set PERSONIO360_CONFIG, or create personio360.toml "
            "(see docs/configuration.md)",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {file}: {exc}") from None
    return load_config_text(text, file)


def load_config_text(text: str, file: Path, *, stored: bool = False) -> Settings:
    """Validate a config's TOML ``text``; problems name ``file`` and its lines. ``stored``: the
    config of a company of a multi-company deployment (issue 15), which has no file beside which
    a ``.env`` or a default store would be looked for (``Settings.source`` is None)."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            f"{file} is not valid TOML: {exc}", hint="fix the TOML syntax at that line"
        ) from None
    locator = _Locator(text, str(file))
    problems = [
        ConfigProblem(
            key,
            "secrets must not be written in the config file; set them in the "
            "environment or a .env file instead",
            locator.line(key),
            str(file),
        )
        for key in _secret_keys(raw)
    ]
    for key in _secret_keys(raw):
        _drop(raw, key)  # reported above; not again as an unknown key
    problems.extend(_duplicate_groups(raw, locator, str(file)))
    try:
        settings = Settings.model_validate({**raw, "source": None if stored else file.resolve()})
    except ValidationError as exc:
        problems.extend(_problems(exc, locator, str(file)))
        settings = None
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise ConfigError(
            f"the config file {file} has {count}:",
            problems=tuple(problems),
            hint="correct each key listed above (docs/configuration.md describes them)",
        )
    assert settings is not None
    return settings


def load_credentials(settings: Settings, environ: Mapping[str, str] | None = None) -> Credentials:
    """The credentials from the environment, else from ``.env`` beside the config or in the cwd."""
    env = dict(environ if environ is not None else os.environ)
    dotenv: dict[str, str] = {}
    for candidate in _dotenv_files(settings):
        for key, value in dotenv_values(candidate).items():
            if value is not None:
                dotenv.setdefault(key, value)
    values: dict[str, str] = {}
    missing: list[str] = []
    for field, var in _CREDENTIAL_VARS.items():
        value = env.get(var) or dotenv.get(var)
        if value:
            values[field] = value
        else:
            missing.append(var)
    if missing:
        raise ConfigError(
            f"missing credentials: {', '.join(missing)}",
            hint="export them in the environment or write them in a .env file beside the config "
            "(VAR=value, one per line); never in the TOML file",
        )
    return Credentials.model_validate(values)


class WriteCredentials(_Model):
    """R18: the Personio credential that may write, apart from the read-only one."""

    client_id: SecretStr
    client_secret: SecretStr


#: R18's credential: never the read credential's variables.
WRITE_VARS = ("PERSONIO_WRITE_CLIENT_ID", "PERSONIO_WRITE_CLIENT_SECRET")


def load_write_credentials(settings: Settings,
                           environ: Mapping[str, str] | None = None) -> WriteCredentials | None:
    """The write-back credential from the environment or ``.env``; ``None`` when write-back is
    off. Missing while it is on: a ``ConfigError`` naming the variables."""
    if not settings.writeback_on:
        return None
    values = _env_and_dotenv(settings, environ)
    missing = [var for var in WRITE_VARS if not values.get(var)]
    if missing:
        raise ConfigError(
            f"[writeback] is configured but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
            "not set",
            hint="create a Personio API credential that may update employees and the written "
            "attributes, and export it as PERSONIO_WRITE_CLIENT_ID / PERSONIO_WRITE_CLIENT_SECRET "
            "(or in .env); the read credential is never used to write")
    return WriteCredentials(client_id=SecretStr(values[WRITE_VARS[0]]),
                            client_secret=SecretStr(values[WRITE_VARS[1]]))


class WebhookSecrets(_Model):
    """R17: what authenticates deliveries; each may hold several (a rotation, several
    360Learning subscriptions: one signing secret each), none may be empty."""

    personio_tokens: tuple[SecretStr, ...] = ()
    learning360_secrets: tuple[SecretStr, ...] = ()


#: the token Personio sends, the one being rotated out, and 360Learning's signing secrets
WEBHOOK_VARS = ("PERSONIO_WEBHOOK_TOKEN", "PERSONIO_WEBHOOK_TOKEN_PREVIOUS", "LEARNING360_WEBHOOK_SECRET")


def load_webhook_secrets(settings: Settings, environ: Mapping[str, str] | None = None) -> WebhookSecrets:
    """The receivers' secrets (R17), from the environment or ``.env`` like the credentials.

    ``LEARNING360_WEBHOOK_SECRET`` may list several secrets separated by spaces: 360Learning
    signs each subscription with its own. A receiver without its secret refuses every
    delivery (401): nothing unauthenticated is ever recorded."""
    values = _env_and_dotenv(settings, environ)
    tokens = [values.get(var, "").strip() for var in WEBHOOK_VARS[:2]]
    secrets = values.get(WEBHOOK_VARS[2], "").split()
    return WebhookSecrets(personio_tokens=tuple(SecretStr(t) for t in tokens if t),
                          learning360_secrets=tuple(SecretStr(s) for s in secrets))


class NotifyTarget(_Model):
    """One ``[notify] urls`` entry, filled in: the URL to send to, and the secrets put into it
    (registered for redaction by whoever sends)."""

    url: SecretStr
    secrets: tuple[SecretStr, ...] = ()


def load_notify_urls(settings: Settings,
                     environ: Mapping[str, str] | None = None) -> tuple[NotifyTarget, ...]:
    """``[notify] urls`` with each ``${NAME}`` filled in from the environment or ``.env`` (issue 14):
    the secrets inside notification URLs live where the credentials do, never in the TOML."""
    from personio360.notify.targets import expand  # noqa: PLC0415 (notify imports config)

    values = _env_and_dotenv(settings, environ)
    targets: list[NotifyTarget] = []
    missing: list[str] = []
    for index, url in enumerate(settings.notify.urls):
        names = ENV_REFERENCE.findall(url)
        missing += [f"{name} (notify.urls[{index}])" for name in names if name not in values]
        targets.append(NotifyTarget(url=SecretStr(expand(url, values)),
                                    secrets=tuple(SecretStr(values[n]) for n in names if n in values)))
    if missing:
        raise ConfigError(f"notification URLs name variables that are not set: {', '.join(missing)}",
                          hint="export them in the environment or write them in the .env file beside "
                          "the config (VAR=value)")
    return tuple(targets)


def _env_and_dotenv(settings: Settings, environ: Mapping[str, str] | None) -> dict[str, str]:
    """The environment first, then ``.env`` beside the config, then in the working directory."""
    merged = {k: v for k, v in (environ if environ is not None else os.environ).items() if v}
    for candidate in _dotenv_files(settings):
        for key, value in dotenv_values(candidate).items():
            if value:
                merged.setdefault(key, value)
    return merged


def _dotenv_files(settings: Settings) -> list[Path]:
    files = []
    if settings.source is not None:
        files.append(settings.source.parent / ".env")
    files.append(Path.cwd() / ".env")
    return [f for f in dict.fromkeys(files) if f.is_file()]


def _check_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError(f"{value!r} is not an http(s) URL")
    return value.rstrip("/")


def _check_attribute(key: str) -> None:
    if not _ATTRIBUTE.match(key):
        raise ValueError(f"{key!r} is not a Personio attribute key (such as office or dynamic_1234)")


def _secret_keys(raw: Mapping[str, Any], prefix: str = "") -> list[str]:
    found: list[str] = []
    for key, value in raw.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            found.extend(_secret_keys(value, f"{path}."))
        elif _SECRET_KEYS.search(key) and prefix.rstrip(".") in ("personio", "learning360", ""):
            found.append(path)
    return found


def _duplicate_groups(raw: dict[str, Any], locator: _Locator, file: str) -> list[ConfigProblem]:
    """A group id listed twice, reported on the second one's line; the repeat is then dropped
    so that the other problems are still all reported."""
    groups = raw.get("groups")
    if not isinstance(groups, list):
        return []
    problems: list[ConfigProblem] = []
    seen: dict[str, int] = {}
    kept: list[Any] = []
    for index, group in enumerate(groups):
        gid = group.get("id") if isinstance(group, dict) else None
        if isinstance(gid, str) and gid.lower() in seen:
            key = f"groups[{index}].id"
            problems.append(ConfigProblem(
                key, f"the group {gid.lower()} is listed twice in [[groups]] "
                f"(also groups[{seen[gid.lower()]}])",
                locator.line(key), file))
            continue
        if isinstance(gid, str):
            seen[gid.lower()] = index
        kept.append(group)
    raw["groups"] = kept
    return problems


def _drop(raw: dict[str, Any], dotted: str) -> None:
    *tables, last = dotted.split(".")
    node: Any = raw
    for table in tables:
        node = node[table]
    node.pop(last, None)


def _problems(exc: ValidationError, locator: _Locator, file: str) -> list[ConfigProblem]:
    problems = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = [str(part) for part in error["loc"] if part not in ("function-after", "function-before")]
        loc = [
            part
            for part in loc
            if not part.startswith(("str", "int", "list[", "bool", "literal")) or part.isdigit()
        ]
        key = _dotted(loc)
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown key (check its spelling; docs/configuration.md lists the keys)"
        elif error["type"] == "missing":
            message = "required but missing"
        problems.append(ConfigProblem(key, message, locator.line(key), file))
    return problems


def _dotted(loc: list[str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
    return out


class _Locator:
    """Maps a dotted key (``groups[1].where.office``) back to its line in the TOML text.

    tomllib keeps no positions, so this follows the file's table headers and keys; it finds
    the line of the deepest part of the key that is written in the file.
    """

    _HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?")
    _KEY = re.compile(r"^\s*([A-Za-z0-9_\-\"']+)\s*=")

    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.lines: dict[str, int] = {}
        counts: dict[str, int] = {}
        table = ""
        for number, line in enumerate(text.splitlines(), start=1):
            header = self._HEADER.match(line)
            if header:
                name = header.group(2).strip()
                if header.group(1) == "[[":
                    index = counts.get(name, -1) + 1
                    counts[name] = index
                    table = f"{name}[{index}]"
                else:
                    table = name
                self.lines.setdefault(table, number)
                continue
            key = self._KEY.match(line)
            if key:
                name = key.group(1).strip("\"'")
                full = f"{table}.{name}" if table else name
                self.lines.setdefault(full, number)

    def line(self, key: str) -> int | None:
        parts = key
        while parts:
            if parts in self.lines:
                return self.lines[parts]
            cut = max(parts.rfind("."), parts.rfind("["))
            if cut <= 0:
                break
            parts = parts[:cut]
        return self.lines.get(parts)
