"""Bad and contradictory configs (SPEC §3): each refused with the exact message, naming the key
and the file line, before any call to either API and before the state store is created."""

from __future__ import annotations

from pathlib import Path
from secrets import token_hex

import pytest

from personio360.config import load_config, load_credentials
from personio360.errors import ConfigError

from .conftest import cli

GROUP = "65003000000000000000000a"
BASE = f'''environment = "test"

[personio]
base_url = "http://127.0.0.1:9"

[learning360]
base_url = "http://127.0.0.1:9"
connector_admin_email = "lms-admin@example.com"

[[groups]]
id = "{GROUP}"
enabled = true

[safety]
max_deletions = 10

[state]
url = "sqlite:///store.db"
'''


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "personio360.toml"
    path.write_text(text, encoding="utf-8")
    return path


def refused(tmp_path: Path, text: str) -> str:
    """The ConfigError's full text for this config; the store is never created."""
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert not (tmp_path / "store.db").exists()
    return str(caught.value)


def one(path: Path, line: int, key: str, message: str) -> str:
    return f"the config file {path} has 1 problem:\n  {path}:{line}: {key}: {message}"


UNKNOWN = "unknown key (check its spelling; docs/configuration.md lists the keys)"


def test_the_base_config_is_valid(tmp_path: Path) -> None:
    """The corpus starts from a valid config, so each case tests exactly one defect."""
    assert load_config(write(tmp_path, BASE)).groups[0].id == GROUP


def test_an_unknown_top_level_key(tmp_path: Path) -> None:
    """A misspelt top-level key is named with its line."""
    text = refused(tmp_path, BASE.replace('environment = "test"', 'environment = "test"\nenviroment = "x"'))
    assert text == one(tmp_path / "personio360.toml", 2, "enviroment", UNKNOWN)


def test_an_unknown_key_in_a_table(tmp_path: Path) -> None:
    """A misspelt key inside [learning360] is named with its table and line."""
    text = refused(tmp_path, BASE.replace("connector_admin_email", "connector_admin_mail"))
    path = tmp_path / "personio360.toml"
    assert text == (
        f"the config file {path} has 2 problems:\n"
        f"  {path}:6: learning360.connector_admin_email: required but missing\n"
        f"  {path}:8: learning360.connector_admin_mail: {UNKNOWN}"
    )


def test_a_value_of_the_wrong_type(tmp_path: Path) -> None:
    """`connector_admin_email = 42` is not a string."""
    text = refused(tmp_path, BASE.replace('"lms-admin@example.com"', "42"))
    assert text == one(
        tmp_path / "personio360.toml",
        8,
        "learning360.connector_admin_email",
        "Input should be a valid string",
    )


def test_a_wrong_type(tmp_path: Path) -> None:
    """`enabled = "yes"` is not a boolean."""
    text = refused(tmp_path, BASE.replace("enabled = true", 'enabled = "yes"'))
    assert text == one(
        tmp_path / "personio360.toml",
        12,
        "groups[0].enabled",
        "Input should be a valid boolean",
    )


def test_groups_not_a_list(tmp_path: Path) -> None:
    """`groups` written as a string instead of [[groups]] tables."""
    text = refused(
        tmp_path,
        BASE.replace(f'[[groups]]\nid = "{GROUP}"\nenabled = true\n', "").replace(
            'environment = "test"', 'environment = "test"\ngroups = "all"'
        ),
    )
    assert text == one(tmp_path / "personio360.toml", 2, "groups", "Input should be a valid list")


@pytest.mark.parametrize("key", ["client_secret", "client_id", "api_token", "password"])
def test_a_secret_written_in_the_toml_is_refused_and_never_echoed(tmp_path: Path, key: str) -> None:
    """Secrets belong in the environment or .env; the value never appears in the message."""
    secret = f"never-shown-{token_hex(8)}"
    text = refused(
        tmp_path,
        BASE.replace(
            'base_url = "http://127.0.0.1:9"\n\n[learning360]',
            f'base_url = "http://127.0.0.1:9"\n{key} = "{secret}"\n\n[learning360]',
        ),
    )
    assert text == one(
        tmp_path / "personio360.toml",
        5,
        f"personio.{key}",
        "secrets must not be written in the config file; set them in the environment or a .env file instead",
    )
    assert secret not in text


def test_a_threshold_over_100_percent(tmp_path: Path) -> None:
    """`max_deletions = "150%"` is out of range."""
    text = refused(tmp_path, BASE.replace("max_deletions = 10", 'max_deletions = "150%"'))
    assert text == one(
        tmp_path / "personio360.toml",
        15,
        "safety.max_deletions",
        "'150%' is neither a number of users nor a percentage between 0% and 100%",
    )


def test_a_negative_threshold(tmp_path: Path) -> None:
    """`max_deletions = -1` is out of range."""
    text = refused(tmp_path, BASE.replace("max_deletions = 10", "max_deletions = -1"))
    assert text == one(tmp_path / "personio360.toml", 15, "safety.max_deletions", "must be 0 or more")


def test_a_boolean_threshold(tmp_path: Path) -> None:
    """`max_deletions = true` is neither a count nor a percentage."""
    text = refused(tmp_path, BASE.replace("max_deletions = 10", "max_deletions = true"))
    assert text == one(
        tmp_path / "personio360.toml",
        15,
        "safety.max_deletions",
        'must be a number of users or a percentage such as "5%"',
    )


def test_a_group_id_that_is_not_an_object_id(tmp_path: Path) -> None:
    """A group name instead of its 24-hex id."""
    text = refused(tmp_path, BASE.replace(GROUP, "All employees"))
    assert text == one(
        tmp_path / "personio360.toml",
        11,
        "groups[0].id",
        "'All employees' is not a 360Learning group id (24 hexadecimal characters)",
    )


def test_the_same_group_twice(tmp_path: Path) -> None:
    """Two [[groups]] with the same id contradict each other."""
    text = refused(tmp_path, BASE.replace("[safety]", f'[[groups]]\nid = "{GROUP.upper()}"\n\n[safety]'))
    assert text == (
        f"the config file {tmp_path / 'personio360.toml'} has 1 problem:\n"
        f"  {tmp_path / 'personio360.toml'}:15: groups[1].id: the group {GROUP} is listed twice "
        "in [[groups]] (also groups[0])"
    )


def test_an_unknown_environment(tmp_path: Path) -> None:
    """Only test and production exist (R12)."""
    text = refused(tmp_path, BASE.replace('environment = "test"', 'environment = "staging"'))
    assert text == one(
        tmp_path / "personio360.toml", 1, "environment", "Input should be 'test' or 'production'"
    )


def test_two_attributes_mapped_to_one_custom_field(tmp_path: Path) -> None:
    """Two Personio attributes cannot fill the same 360Learning field (R8)."""
    text = refused(tmp_path, BASE + '\n[custom_fields]\ndepartment = "Team"\nteam = "team "\n')
    assert text == one(
        tmp_path / "personio360.toml",
        20,
        "custom_fields",
        "'department' and 'team' both map to the field 'team '",
    )


def test_a_level_listed_twice(tmp_path: Path) -> None:
    """A group level repeated is a contradiction (R7)."""
    text = refused(tmp_path, BASE + '\n[group_structure]\nlevels = ["office", "office"]\n')
    assert text == one(tmp_path / "personio360.toml", 21, "group_structure.levels", "a level is listed twice")


def test_invalid_toml(tmp_path: Path) -> None:
    """A syntax error names the file and the line."""
    text = refused(tmp_path, BASE.replace("enabled = true", "enabled = "))
    assert text == (
        f"{tmp_path / 'personio360.toml'} is not valid TOML: Invalid value (at line 12, column 11)"
    )


def test_no_groups_at_all(tmp_path: Path) -> None:
    """A config that syncs nothing is refused: at least one [[groups]]."""
    text = refused(tmp_path, BASE.replace(f'[[groups]]\nid = "{GROUP}"\nenabled = true\n', ""))
    assert text == (
        f"the config file {tmp_path / 'personio360.toml'} has 1 problem:\n"
        f"  {tmp_path / 'personio360.toml'}: groups: required but missing"
    )


def test_missing_credentials_name_every_variable(tmp_path: Path) -> None:
    """No secrets in the environment or .env: each missing variable is named, nothing else."""
    settings = load_config(write(tmp_path, BASE))
    with pytest.raises(ConfigError) as caught:
        load_credentials(settings, {"PERSONIO_CLIENT_ID": "x"})
    assert str(caught.value) == (
        "missing credentials: PERSONIO_CLIENT_SECRET, LEARNING360_CLIENT_ID, LEARNING360_CLIENT_SECRET"
    )


def test_the_cli_exits_2_with_error_and_fix_lines(tmp_path: Path) -> None:
    """Through the CLI: exit 2, the problem and its fix on stderr, no traceback, no store."""
    secret = f"never-shown-{token_hex(8)}"
    path = write(tmp_path, BASE.replace("[safety]", f'[safety]\nclient_secret = "{secret}"'))

    result = cli(None, "sync", "--config", str(path), cwd=tmp_path)

    assert result.returncode == 2
    assert result.stderr == (
        f"error: the config file {path} has 1 problem:\n"
        f"  {path}:15: safety.client_secret: {UNKNOWN}\n"
        "fix: correct each key listed above (docs/configuration.md describes them)\n"
    )
    assert secret not in result.stdout + result.stderr
    assert not (tmp_path / "store.db").exists()
