"""``personio360 webhooks setup | status | remove --company NAME`` (issue 15): a company's stored
config, credentials and webhook secrets, at that company's own emulators; nothing of another's."""

from __future__ import annotations

import json
from secrets import token_urlsafe

from .helpers import cli


def test_webhooks_commands_work_on_one_company_of_a_deployment(make_company, deployment_env) -> None:
    token = token_urlsafe(24)  # made per run: no token is written in the repository
    companies = {}
    for name in ("acme", "globex"):
        company = make_company(name, size=4, extra_toml=(
            f'\n[webhooks]\npublic_url = "http://127.0.0.1:9/companies/{name}"\n'))
        with company.secrets.open("a", encoding="utf-8") as out:
            out.write(f"PERSONIO_WEBHOOK_TOKEN={token}\n")
        added = cli(deployment_env, "companies", "add", str(company.config),
                    "--secrets", str(company.secrets))
        assert added.code == 0, added.err
        companies[name] = company
    acme, globex = companies["acme"].sandbox, companies["globex"].sandbox

    done = cli(deployment_env, "webhooks", "setup", "--company", "acme")
    assert done.code == 1, done.err  # set up; the 360Learning secrets are still to be added
    hooks = acme.personio.webhooks.all()
    assert [(h["url"], h["status"]) for h in hooks] == [
        ("http://127.0.0.1:9/companies/acme/hooks/personio", "ENABLED")]
    assert {s["url"] for s in acme.lms.webhooks.all()} == {"http://127.0.0.1:9/companies/acme/hooks/360learning"}
    assert globex.personio.webhooks.all() == []
    assert globex.lms.webhooks.all() == []

    status = cli(deployment_env, "webhooks", "status", "--company", "acme", "--json")
    assert status.code in (0, 1), status.err
    assert [h["url"] for h in json.loads(status.out)["personio"]["subscriptions"]] == [hooks[0]["url"]]

    removed = cli(deployment_env, "webhooks", "remove", "--company", "acme")
    assert removed.code == 0, removed.err
    assert acme.personio.webhooks.all() == []
    assert acme.lms.webhooks.all() == []
    for result in (done, status, removed):
        assert token not in result.out + result.err
        assert "Traceback" not in result.out + result.err


def test_webhooks_for_an_unknown_company_is_a_clear_error(deployment_env) -> None:
    result = cli(deployment_env, "webhooks", "status", "--company", "nobody")
    assert result.code == 2
    assert "no company named 'nobody'" in result.err
    assert "Traceback" not in result.err
