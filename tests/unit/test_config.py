"""The configuration (SPEC §3): loading, every problem at once with key and line, credentials, R12, R13b."""

from __future__ import annotations

import textwrap
from pathlib import Path
from secrets import token_hex

import pytest

from personio360.config import (
    CONFIG_ENV,
    DEFAULT_CONFIG,
    Settings,
    find_config,
    load_config,
    load_credentials,
)
from personio360.errors import ConfigError, ConfigProblem
from strategies import settings as make_settings

VALID = """\
environment = "test"

[personio]
base_url = "http://127.0.0.1:8001/"

[learning360]
base_url = "http://127.0.0.1:8002"
connector_admin_email = " lms-admin@example.com "

[[groups]]
id = "64F1C2AAAAAAAAAAAAAAAAAA"
enabled = true
where = { subcompany = "ACME France" }

[[groups]]
id = "64f1c2bbbbbbbbbbbbbbbbbb"
enabled = false
where = { office = ["Paris", "Lyon"], dynamic_42 = 7 }

[group_structure]
levels = ["office", "department"]

[custom_fields]
department = "Department"
dynamic_1234567 = "T-shirt size"

[safety]
max_deletions = " 7.5 % "
leavers = "deactivate"

[schedule]
every = "30m"
"""

SECRET_MESSAGE = ("secrets must not be written in the config file; set them in the environment "
                  "or a .env file instead")
P_SECRET, L_SECRET = f"p-{token_hex(8)}", f"l-{token_hex(8)}"  # made per run: none is committed
P_TOML, PASSWORD_TOML = f"p-in-toml-{token_hex(8)}", f"pw-in-toml-{token_hex(8)}"
CREDENTIALS = {
    "PERSONIO_CLIENT_ID": "p-id", "PERSONIO_CLIENT_SECRET": P_SECRET,
    "LEARNING360_CLIENT_ID": "l-id", "LEARNING360_CLIENT_SECRET": L_SECRET,
}


def write(directory: Path, text: str, name: str = "personio360.toml") -> Path:
    path = directory / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def problems_of(path: Path) -> list[tuple[str, int | None, str]]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.exit_code == 2
    return [(p.key, p.line, p.message) for p in caught.value.problems]


# --- a valid file ----------------------------------------------------------------------------


def test_a_valid_file_loads_with_every_value_normalised(tmp_path: Path) -> None:
    """Every section of SPEC §3 loads; URLs lose their trailing slash, ids are lower-cased."""
    loaded = load_config(write(tmp_path, VALID))
    assert loaded.environment == "test"
    assert loaded.personio.base_url == "http://127.0.0.1:8001"
    assert loaded.learning360.connector_admin_email == "lms-admin@example.com"
    assert loaded.learning360.external_id_platform == "personio"
    assert [g.id for g in loaded.groups] == ["64f1c2aaaaaaaaaaaaaaaaaa", "64f1c2bbbbbbbbbbbbbbbbbb"]
    assert [g.id for g in loaded.enabled_groups] == ["64f1c2aaaaaaaaaaaaaaaaaa"]
    assert loaded.groups[1].accepted("office") == ("Paris", "Lyon")
    assert loaded.groups[1].accepted("dynamic_42") == ("7",)
    assert loaded.group_structure.levels == ["office", "department"]
    assert loaded.custom_fields == {"department": "Department", "dynamic_1234567": "T-shirt size"}
    assert loaded.safety.max_deletions == "7.5%"
    assert loaded.safety.leavers == "deactivate"
    assert loaded.full_sync_interval.total_seconds() == 1800
    assert loaded.source == (tmp_path / "personio360.toml").resolve()


def test_attributes_named_says_where_each_attribute_is_used(tmp_path: Path) -> None:
    """R11 checks every attribute the config names, and says where it is named."""
    loaded = load_config(write(tmp_path, VALID))
    assert loaded.attributes_named() == {
        "subcompany": "groups[0].where", "office": "groups[1].where",
        "dynamic_42": "groups[1].where", "department": "group_structure.levels",
        "dynamic_1234567": "custom_fields",
    }


def test_the_minimal_file_takes_the_documented_defaults(tmp_path: Path) -> None:
    """Only environment, the connector admin and one group are required (SPEC §3 defaults)."""
    loaded = load_config(write(tmp_path, """\
        environment = "production"
        [learning360]
        connector_admin_email = "a@b.example"
        [[groups]]
        id = "64f1c2aaaaaaaaaaaaaaaaaa"
    """))
    assert loaded.personio.base_url == "https://api.personio.de"
    assert loaded.learning360.base_url == "https://app.360learning.com"
    assert loaded.groups[0].enabled is True
    assert loaded.groups[0].where == {}
    assert loaded.group_structure.levels == []
    assert loaded.custom_fields == {}
    assert loaded.safety.max_deletions is None
    assert loaded.safety.leavers == "delete"
    assert loaded.schedule.every is None
    assert loaded.full_sync_every == "1h"


# --- every problem at once ------------------------------------------------------------------

BROKEN = """\
environment = "staging"
colour = "blue"

[personio]
base_url = "ftp://x"
client_secret = "<secret>"

[learning360]
connector_admin_email = "not-an-email"
api_token = "<token>"

[[groups]]
id = "xyz"

[[groups]]
id = "64f1c2aaaaaaaaaaaaaaaaaa"
where = { office = ["Paris", "Berlin"], "Bad Key" = "x" }

[group_structure]
levels = "office"

[custom_fields]
department = "Department"
office = " department "

[safety]
max_deletions = "150%"
leavers = "archive"

[schedule]
every = "often"
""".replace("<secret>", token_hex(8)).replace("<token>", token_hex(8))


def test_every_problem_is_reported_at_once_with_key_and_line(tmp_path: Path) -> None:
    """Unknown keys, wrong types, bad values and secrets: all reported in one error, key and line each."""
    assert sorted(problems_of(write(tmp_path, BROKEN)), key=lambda p: p[1] or 0) == [
        ("environment", 1, "Input should be 'test' or 'production'"),
        ("colour", 2, "unknown key (check its spelling; docs/configuration.md lists the keys)"),
        ("personio.base_url", 5, "'ftp://x' is not an http(s) URL"),
        ("personio.client_secret", 6, SECRET_MESSAGE),
        ("learning360.connector_admin_email", 9, "'not-an-email' is not an email address"),
        ("learning360.api_token", 10, SECRET_MESSAGE),
        ("groups[0].id", 13, "'xyz' is not a 360Learning group id (24 hexadecimal characters)"),
        ("groups[1].where", 17,
         "'Bad Key' is not a Personio attribute key (such as office or dynamic_1234)"),
        ("group_structure.levels", 20, "Input should be a valid list"),
        ("custom_fields", 22, "'department' and 'office' both map to the field ' department '"),
        ("safety.max_deletions", 27,
         "'150%' is neither a number of users nor a percentage between 0% and 100%"),
        ("safety.leavers", 28, "Input should be 'delete' or 'deactivate'"),
        ("schedule.every", 31, "'often' is not a duration such as \"30m\", \"1h\" or \"1d\""),
    ]


def test_the_error_text_lists_each_problem_as_file_line_key(tmp_path: Path) -> None:
    """``str(ConfigError)`` is what the CLI prints: a count, then ``file:line: key: message`` lines."""
    path = write(tmp_path, BROKEN)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value).splitlines()
    assert text[0] == f"the config file {path} has 13 problems:"
    assert f"  {path}:2: colour: unknown key (check its spelling; docs/configuration.md lists the keys)" \
        in text
    assert caught.value.hint == "correct each key listed above (docs/configuration.md describes them)"


def test_secrets_in_the_toml_are_refused_and_never_echoed(tmp_path: Path) -> None:
    """SPEC §3: secrets never come from the TOML; the error names the key, not the value."""
    path = write(tmp_path, f"""\
        environment = "test"
        client_id = "top-level-id"
        [personio]
        client_id = "p-id-in-toml"
        client_secret = "{P_TOML}"
        [learning360]
        connector_admin_email = "a@b.example"
        password = "{PASSWORD_TOML}"
        [[groups]]
        id = "64f1c2aaaaaaaaaaaaaaaaaa"
    """)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert [(p.key, p.line, p.message) for p in caught.value.problems] == [
        ("client_id", 2, SECRET_MESSAGE),
        ("personio.client_id", 4, SECRET_MESSAGE),
        ("personio.client_secret", 5, SECRET_MESSAGE),
        ("learning360.password", 8, SECRET_MESSAGE),
    ]
    for secret in ("top-level-id", "p-id-in-toml", P_TOML, PASSWORD_TOML):
        assert secret not in str(caught.value)
        assert secret not in repr(caught.value.problems)


def test_missing_required_values_are_named(tmp_path: Path) -> None:
    """A missing table or key is "required but missing", at the line of its table when there is one."""
    path = write(tmp_path, """\
        environment = "test"

        [learning360]
        base_url = "https://app.360learning.com"
    """)
    assert problems_of(path) == [
        ("learning360.connector_admin_email", 3, "required but missing"),
        ("groups", None, "required but missing"),
    ]


def test_a_problem_without_a_line_prints_file_and_key() -> None:
    """``ConfigProblem`` text: ``file:line: key: message``, or ``file: key: message`` without a line."""
    assert str(ConfigProblem("groups", "required but missing", None, "c.toml")) == \
        "c.toml: groups: required but missing"
    assert str(ConfigProblem("a.b", "bad", 3, "c.toml")) == "c.toml:3: a.b: bad"
    assert str(ConfigProblem("", "bad", None, None)) == "bad"


@pytest.mark.parametrize(("value", "message"), [
    ('"150%"', "'150%' is neither a number of users nor a percentage between 0% and 100%"),
    ("-1", "must be 0 or more"),
    ('"-5%"', "'-5%' is neither a number of users nor a percentage between 0% and 100%"),
    ('"ten"', "'ten' is neither a number of users nor a percentage between 0% and 100%"),
])
def test_thresholds_out_of_range_are_refused(tmp_path: Path, value: str, message: str) -> None:
    """R13b: ``safety.max_deletions`` is a number of users or a percentage from 0% to 100%."""
    path = write(tmp_path, f"""\
        environment = "test"
        [learning360]
        connector_admin_email = "a@b.example"
        [[groups]]
        id = "64f1c2aaaaaaaaaaaaaaaaaa"
        [safety]
        max_deletions = {value}
    """)
    assert problems_of(path) == [("safety.max_deletions", 7, message)]


@pytest.mark.parametrize("every", ['"0m"', '"1w"', '"90"', '""'])
def test_bad_schedules_are_refused(tmp_path: Path, every: str) -> None:
    """``schedule.every`` is a positive number of s, m, h or d."""
    path = write(tmp_path, f"""\
        environment = "test"
        [learning360]
        connector_admin_email = "a@b.example"
        [[groups]]
        id = "64f1c2aaaaaaaaaaaaaaaaaa"
        [schedule]
        every = {every}
    """)
    [(key, line, message)] = problems_of(path)
    assert (key, line) == ("schedule.every", 7)
    assert message.endswith('is not a duration such as "30m", "1h" or "1d"')


def test_two_custom_fields_mapped_to_one_name_are_refused(tmp_path: Path) -> None:
    """R8: one 360Learning field per attribute; names compared trimmed and case-insensitively."""
    path = write(tmp_path, """\
        environment = "test"
        [learning360]
        connector_admin_email = "a@b.example"
        [[groups]]
        id = "64f1c2aaaaaaaaaaaaaaaaaa"
        [custom_fields]
        department = "Department"
        dynamic_1 = "DEPARTMENT "
    """)
    assert problems_of(path) == [
        ("custom_fields", 6, "'department' and 'dynamic_1' both map to the field 'DEPARTMENT '"),
    ]


def test_an_empty_filter_list_and_a_repeated_level_are_refused(tmp_path: Path) -> None:
    """A ``where`` listing no value would select nobody; a level twice is a typo."""
    path = write(tmp_path, """\
        environment = "test"
        [learning360]
        connector_admin_email = "a@b.example"
        [[groups]]
        id = "64f1c2aaaaaaaaaaaaaaaaaa"
        where = { office = [] }
        [group_structure]
        levels = ["office", "office"]
    """)
    assert problems_of(path) == [
        ("groups[0].where", 6, "the filter on 'office' lists no value"),
        ("group_structure.levels", 8, "a level is listed twice"),
    ]


def test_duplicate_group_ids_are_refused(tmp_path: Path) -> None:
    """One entry per synced group: ids compared case-insensitively."""
    path = write(tmp_path, """\
        environment = "test"
        [learning360]
        connector_admin_email = "a@b.example"
        [[groups]]
        id = "64f1c2aaaaaaaaaaaaaaaaaa"
        [[groups]]
        id = "64F1C2AAAAAAAAAAAAAAAAAA"
    """)
    [(key, line, message)] = problems_of(path)
    assert (key, line) == ("groups[1].id", 7)
    assert message == "the group 64f1c2aaaaaaaaaaaaaaaaaa is listed twice in [[groups]] (also groups[0])"


def test_duplicate_group_ids_are_reported_with_key_and_line_among_other_problems(
        tmp_path: Path) -> None:
    """SPEC §3: every problem names its key and file line, all at once, duplicates included."""
    path = write(tmp_path, """\
        environment = "test"
        [learning360]
        connector_admin_email = "a@b.example"
        [[groups]]
        id = "64f1c2aaaaaaaaaaaaaaaaaa"
        [[groups]]
        id = "64F1C2AAAAAAAAAAAAAAAAAA"
        [schedule]
        every = "often"
    """)
    found = problems_of(path)
    assert ("schedule.every", 9) in [(k, line) for k, line, _ in found]
    duplicates = [(k, line) for k, line, m in found if "listed twice" in m]
    assert duplicates
    assert duplicates[0][0].startswith("groups")
    assert duplicates[0][1] is not None


@pytest.mark.parametrize(("line", "key"), [
    ('enabled = "yes"', "groups[0].enabled"),
    ("[safety]\nmax_deletions = true", "safety.max_deletions"),
])
def test_wrong_types_are_not_coerced(tmp_path: Path, line: str, key: str) -> None:
    """SPEC §3: wrong types are errors naming the key (TOML has real booleans and numbers)."""
    path = write(tmp_path, textwrap.dedent("""\
        environment = "test"
        [learning360]
        connector_admin_email = "a@b.example"
        [[groups]]
        id = "64f1c2aaaaaaaaaaaaaaaaaa"
    """) + line + "\n")
    assert key in [k for k, _line, _m in problems_of(path)]


def test_invalid_toml_syntax_names_the_line(tmp_path: Path) -> None:
    """A TOML syntax error is one ConfigError naming the file and the position."""
    path = write(tmp_path, 'environment = "test"\n[learning360\nx = 1\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (f"{path} is not valid TOML: Expected ']' at the end of a table "
                                 "declaration (at line 2, column 13)")
    assert caught.value.hint == "fix the TOML syntax at that line"


# --- finding the file ---------------------------------------------------------------------


def test_find_config_prefers_the_option_then_the_environment_then_the_default(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """SPEC §2: ``--config PATH``, else ``$PERSONIO360_CONFIG``, else ``personio360.toml``."""
    monkeypatch.delenv(CONFIG_ENV, raising=False)
    assert find_config(None) == Path(DEFAULT_CONFIG) == Path("personio360.toml")
    monkeypatch.setenv(CONFIG_ENV, "/etc/p360/env.toml")
    assert find_config(None) == Path("/etc/p360/env.toml")
    assert find_config("given.toml") == Path("given.toml")


def test_load_config_reads_the_file_the_environment_names(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``$PERSONIO360_CONFIG`` is used when no path is given."""
    path = write(tmp_path, VALID, "elsewhere.toml")
    monkeypatch.setenv(CONFIG_ENV, str(path))
    assert load_config().source == path.resolve()


def test_a_missing_file_says_how_to_name_one(tmp_path: Path) -> None:
    """No file: a ConfigError whose hint names --config, the variable and the default name."""
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "nope.toml")
    assert str(caught.value) == f"no config file at {tmp_path / 'nope.toml'}"
    assert caught.value.hint == ("pass --config PATH, set PERSONIO360_CONFIG, or create "
                                 "personio360.toml (see docs/configuration.md)")


# --- credentials ----------------------------------------------------------------------------


def test_credentials_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The four variables, held as SecretStr (never shown in a repr)."""
    monkeypatch.chdir(tmp_path)
    creds = load_credentials(load_config(write(tmp_path, VALID)), CREDENTIALS)
    assert creds.personio_client_id.get_secret_value() == "p-id"
    assert creds.learning360_client_secret.get_secret_value() == L_SECRET
    assert L_SECRET not in repr(creds)
    assert P_SECRET not in str(creds)


def test_credentials_come_from_a_dotenv_beside_the_config(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A ``.env`` beside the config fills what the environment lacks; the environment wins."""
    config_dir = tmp_path / "conf"
    config_dir.mkdir()
    (config_dir / ".env").write_text("\n".join(f"{k}={v}" for k, v in CREDENTIALS.items()) + "\n",
                                     encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    loaded = load_config(write(config_dir, VALID))
    creds = load_credentials(loaded, {"PERSONIO_CLIENT_ID": "from-env"})
    assert creds.personio_client_id.get_secret_value() == "from-env"
    assert creds.personio_client_secret.get_secret_value() == P_SECRET


def test_credentials_come_from_a_dotenv_in_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without one beside the config, the working directory's ``.env`` is read."""
    config_dir = tmp_path / "conf"
    config_dir.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    (work / ".env").write_text("\n".join(f"{k}={v}" for k, v in CREDENTIALS.items()) + "\n",
                               encoding="utf-8")
    monkeypatch.chdir(work)
    creds = load_credentials(load_config(write(config_dir, VALID)), {})
    assert creds.learning360_client_id.get_secret_value() == "l-id"


def test_missing_credentials_are_all_named_at_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every missing variable in one error (an empty value counts as missing), with the fix."""
    monkeypatch.chdir(tmp_path)
    loaded = load_config(write(tmp_path, VALID))
    with pytest.raises(ConfigError) as caught:
        load_credentials(loaded, {"PERSONIO_CLIENT_ID": "p-id", "LEARNING360_CLIENT_ID": ""})
    assert str(caught.value) == ("missing credentials: PERSONIO_CLIENT_SECRET, "
                                 "LEARNING360_CLIENT_ID, LEARNING360_CLIENT_SECRET")
    assert caught.value.hint == ("export them in the environment or write them in a .env file "
                                 "beside the config (VAR=value, one per line); never in the TOML file")
    assert caught.value.exit_code == 2


# --- R13b and R12 ---------------------------------------------------------------------------


@pytest.mark.parametrize(("max_deletions", "managed", "limit"), [
    (None, 0, 10), (None, 199, 10), (None, 200, 10), (None, 219, 10), (None, 220, 11),
    (None, 10_000, 500), (0, 1000, 0), (25, 3, 25), ("5%", 100, 5), ("5%", 119, 5),
    ("0%", 1000, 0), ("100%", 37, 37), ("7.5%", 200, 15),
])
def test_deletion_limit(max_deletions: int | str | None, managed: int, limit: int) -> None:
    """R13b: default max(10, 5% of managed users); else a number, or a percentage rounded down."""
    config = make_settings(max_deletions=max_deletions)
    assert config.safety.deletion_limit(managed) == limit


def test_each_environment_has_its_own_default_store(tmp_path: Path) -> None:
    """R12: the default state store sits beside the config and is named after the environment."""
    test = load_config(write(tmp_path, VALID))
    production = load_config(write(tmp_path, VALID.replace('"test"', '"production"'), "prod.toml"))
    assert test.state_url == f"sqlite:///{tmp_path.resolve() / 'personio360-test.db'}"
    assert production.state_url == f"sqlite:///{tmp_path.resolve() / 'personio360-production.db'}"


def test_an_explicit_state_url_wins(tmp_path: Path) -> None:
    """``[state] url`` is used as written."""
    loaded = load_config(write(tmp_path, VALID + '\n[state]\nurl = "sqlite:///x.db"\n'))
    assert loaded.state_url == "sqlite:///x.db"


def test_settings_without_a_file_put_the_store_in_the_working_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings built in code (no ``source``) default to the working directory."""
    monkeypatch.chdir(tmp_path)
    assert make_settings(environment="production").state_url == \
        f"sqlite:///{tmp_path / 'personio360-production.db'}"


def test_settings_are_frozen() -> None:
    """The validated Settings cannot be changed after loading."""
    config = make_settings()
    with pytest.raises(ValueError, match="frozen"):
        config.environment = "production"  # type: ignore[misc]
    assert isinstance(config, Settings)
