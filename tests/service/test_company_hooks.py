"""Webhooks routed to their company (issue 15): each company's own token, secret and company_id."""

from __future__ import annotations

import base64
import datetime as dt
import json
import socket
import subprocess
import sys
import time

import httpx
import pytest
from standardwebhooks import Webhook

from personio360.wiring import load_target, open_store_only

from .helpers import cli, jobs, queue, wait_until

COMPANIES = {"acme": ("111", "token-of-acme-0123456789"), "beta": ("222", "token-of-beta-0123456789")}


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _secret(name: str) -> str:
    return "whsec_" + base64.b64encode(f"signing secret of {name} 32 bytes!".encode()[:32]).decode()


def pending(name: str, database_url: str) -> list[object]:
    store = open_store_only(load_target(None, company=name, database=database_url).settings)
    try:
        return list(store.feed.pending())
    finally:
        store.close()


def personio(url: str, company_id: str, token: str, person: int = 1001) -> httpx.Response:
    body = {"company_id": company_id, "event_name": "person.updated",
            "occurred_at": dt.datetime.now(dt.UTC).isoformat(), "payload": {"person": {"id": person}}}
    return httpx.post(url, content=json.dumps(body), headers={"Authorization": token,
                                                              "Content-Type": "application/json"})


def learning360(url: str, secret: str) -> httpx.Response:
    body = json.dumps({"type": "user.updated", "timestamp": int(time.time() * 1000),
                       "data": {"userId": "65f0c0ffee0000000000abcd"}})
    now = dt.datetime.now(dt.UTC)
    signature = Webhook(secret).sign("msg_1", now, body)
    return httpx.post(url, content=body, headers={"webhook-id": "msg_1", "webhook-timestamp":
                                                  str(int(now.timestamp())), "webhook-signature": signature,
                                                  "Content-Type": "application/json"})


@pytest.mark.slow
def test_deliveries_reach_only_their_own_company(make_company, deployment_env, database_url, tmp_path,
                                                 monkeypatch) -> None:
    """A's token and company_id record in A's feed and queue one changes run of A; A's token at B's
    address, another company_id, A's signing secret at B, or an unknown company record nothing."""
    port = _port()
    for name, (company_id, token) in COMPANIES.items():
        files = make_company(name, size=4, extra_toml=(
            f'\n[webhooks]\npublic_url = "http://127.0.0.1:{port}/companies/{name}"\n'
            f'personio_company_id = "{company_id}"\n'))
        with files.secrets.open("a", encoding="utf-8") as env:
            env.write(f"PERSONIO_WEBHOOK_TOKEN={token}\nLEARNING360_WEBHOOK_SECRET={_secret(name)}\n")
        assert cli(deployment_env, "companies", "add", str(files.config), "--secrets",
                   str(files.secrets)).code == 0
    monkeypatch.setenv("PERSONIO360_SECRET_KEY", deployment_env["PERSONIO360_SECRET_KEY"])
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen([sys.executable, "-m", "personio360", "serve", "--companies", "--port",
                               str(port)], env=deployment_env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _up(base), 30, "serve --companies")
        a_token, b_token = COMPANIES["acme"][1], COMPANIES["beta"][1]
        assert personio(f"{base}/companies/beta/hooks/personio", "222", a_token).status_code == 401
        assert personio(f"{base}/companies/acme/hooks/personio", "222", a_token).status_code == 403
        assert personio(f"{base}/companies/nobody/hooks/personio", "111", a_token).status_code == 404
        assert learning360(f"{base}/companies/beta/hooks/360learning", _secret("acme")).status_code == 401
        assert pending("acme", database_url) == []
        assert pending("beta", database_url) == []
        recorded = personio(f"{base}/companies/acme/hooks/personio", "111", a_token)
        assert recorded.status_code == 200
        assert recorded.json() == {"status": "recorded"}
        assert learning360(f"{base}/companies/beta/hooks/360learning", _secret("beta")).status_code == 200
        beta = personio(f"{base}/companies/beta/hooks/personio", "222", b_token, person=1002)
        assert beta.status_code == 200
        assert [e.employee_id for e in pending("acme", database_url)] == [1001]  # type: ignore[attr-defined]
        assert [e.employee_id for e in pending("beta", database_url)] == [1002]  # type: ignore[attr-defined]
        with queue(database_url) as app:
            for name in COMPANIES:
                wait_until(lambda n=name: [j["kind"] for j in jobs(app, n)] == ["changes"], 20,  # type: ignore[misc]
                           f"{name}'s changes run")
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()


def _up(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz").status_code == 200
    except httpx.HTTPError:
        return False
