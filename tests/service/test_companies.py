"""Companies of a multi-company deployment (issue 15): add, list, show, remove, --company, bad input."""

from __future__ import annotations

import psycopg

from personio360.service.sealing import new_key

from .helpers import Result, cli


def no_traceback(result: Result) -> None:
    assert "Traceback" not in result.err + result.out


def test_add_list_show_sync_and_remove_a_company(make_company, deployment_env, database_url) -> None:
    """A company added from its config and secrets is listed, synced with --company, shown with its
    last run (never its secrets' values), and removed with its whole schema."""
    acme = make_company("acme", size=6)
    added = cli(deployment_env, "companies", "add", str(acme.config), "--secrets", str(acme.secrets))
    assert added.code == 0, added.err
    assert "Added company acme" in added.out
    listed = cli(deployment_env, "companies", "list")
    assert "acme" in listed.out
    assert "never synced" in listed.out
    synced = cli(deployment_env, "sync", "--company", "acme")
    assert synced.code in (0, 1), synced.err
    assert acme.sandbox.lms.state.users(), "the company's 360Learning got its users"
    runs = cli(deployment_env, "runs", "--company", "acme")
    assert "sync" in runs.out
    shown = cli(deployment_env, "companies", "show", "acme")
    assert "PERSONIO_CLIENT_SECRET" in shown.out
    for secret in acme.sandbox.environ.values():
        for result in (added, listed, synced, runs, shown):
            assert secret not in result.out + result.err
    removed = cli(deployment_env, "companies", "remove", "acme", "--yes")
    assert removed.code == 0
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn:
        assert conn.execute("SELECT 1 FROM pg_namespace WHERE nspname = 'company_acme'").fetchone() is None
    gone = cli(deployment_env, "plan", "--company", "acme")
    assert gone.code == 2
    assert "no company named 'acme'" in gone.err
    no_traceback(gone)


def test_credentials_are_sealed_at_rest(make_company, deployment_env, database_url) -> None:
    """The registry row holds no credential in clear: only the sealed value and the variables' names."""
    acme = make_company("acme", size=4)
    assert cli(deployment_env, "companies", "add", str(acme.config), "--secrets", str(acme.secrets)).code == 0
    with psycopg.connect(database_url.replace("+psycopg", "")) as conn:
        row = conn.execute("SELECT * FROM personio360.companies").fetchone()
    dump = repr(row).encode() + bytes(row[3])
    for secret in (acme.sandbox.environ["PERSONIO_CLIENT_SECRET"],
                   acme.sandbox.environ["LEARNING360_CLIENT_SECRET"]):
        assert secret.encode() not in dump


def test_wrong_secret_key_names_the_company_and_changes_nothing(make_company, deployment_env) -> None:
    """Another key opens nothing: a clear error naming the company, exit 2, no request, no run."""
    acme = make_company("acme", size=4)
    assert cli(deployment_env, "companies", "add", str(acme.config), "--secrets", str(acme.secrets)).code == 0
    before = len(acme.sandbox.lms.state.users())
    wrong = cli({**deployment_env, "PERSONIO360_SECRET_KEY": new_key()}, "sync", "--company", "acme")
    assert wrong.code == 2
    assert "credentials of company 'acme' do not open" in wrong.err
    no_traceback(wrong)
    assert len(acme.sandbox.lms.state.users()) == before, "no user was created"
    runs = cli(deployment_env, "runs", "--company", "acme")
    assert "sync" not in runs.out, "no run was recorded"


def test_company_config_errors_name_key_and_line(make_company, deployment_env) -> None:
    """A company config with errors is refused as today's config is: each key with its file line."""
    acme = make_company("acme", size=4)
    text = acme.config.read_text(encoding="utf-8").replace('environment = "test"', 'environment = "prod"')
    acme.config.write_text(text + "\n[safety]\nmax_deletion = 3\n", encoding="utf-8")
    bad = cli(deployment_env, "companies", "add", str(acme.config), "--secrets", str(acme.secrets))
    assert bad.code == 2
    assert f"{acme.config}:2: environment" in bad.err
    assert "safety.max_deletion" in bad.err
    no_traceback(bad)
    assert "acme" not in cli(deployment_env, "companies", "list").out


def test_state_table_and_missing_secrets_are_refused(make_company, deployment_env, tmp_path) -> None:
    """A [state] table (the deployment keeps the state) and a secrets file without the four
    credentials are refused, naming what to fix; nothing is registered."""
    acme = make_company("acme", size=4)
    with_state = acme.sandbox.config_path  # the sandbox's own, with [state]
    refused = cli(deployment_env, "companies", "add", str(with_state), "--name", "acme",
                  "--secrets", str(acme.secrets))
    assert refused.code == 2
    assert "state: a company's state is kept by the deployment" in refused.err
    thin = tmp_path / "thin.env"
    thin.write_text("PERSONIO_CLIENT_ID=x\n", encoding="utf-8")
    lacking = cli(deployment_env, "companies", "add", str(acme.config), "--secrets", str(thin))
    assert lacking.code == 2
    assert "lacks PERSONIO_CLIENT_SECRET" in lacking.err
    assert "x" not in lacking.err.split("lacks")[1].split(",")[0].replace("PERSONIO_CLIENT_SECRET", "")
    assert "No companies" in cli(deployment_env, "companies", "list").out


def test_unreachable_postgres_is_exit_3_without_traceback(deployment_env) -> None:
    """PostgreSQL unreachable: a clear error naming the host, exit 3, no traceback."""
    env = {**deployment_env, "PERSONIO360_DATABASE_URL": "postgresql://postgres@127.0.0.1:1/test"}
    for args in (("companies", "list"), ("plan", "--company", "acme")):
        result = cli(env, *args)
        assert result.code == 3, (args, result.err)
        assert "cannot reach the deployment's PostgreSQL at 127.0.0.1:1/test" in result.err
        no_traceback(result)


def test_config_and_company_are_exclusive_and_single_company_mode_is_unchanged(
        make_company, deployment_env) -> None:
    """--config and --company together are refused; without --company, the config file is used."""
    both = cli(deployment_env, "plan", "--config", "x.toml", "--company", "acme")
    assert both.code == 2
    assert "cannot be combined" in both.err
    missing = cli({k: v for k, v in deployment_env.items() if k != "PERSONIO360_DATABASE_URL"},
                  "plan", "--company", "acme")
    assert missing.code == 2
    assert "PERSONIO360_DATABASE_URL" in missing.err
