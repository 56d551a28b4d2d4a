"""Issue 14's "webhook subscription disabled", found by the long-running process itself: the
feed watcher of ``serve`` reads the subscriptions (as ``webhooks status`` does) over real HTTP
against both emulators and notifies once; nothing is said for a service it cannot read."""

from __future__ import annotations

from pathlib import Path
from secrets import token_hex

from personio360.config import load_config
from personio360.emulators.sandbox import Sandbox
from personio360.notify.service import FeedWatch
from personio360.store import open_store

from .conftest import ENVIRON, Targets

TOKEN = "Bearer " + token_hex(16)  # made per run: no token is written in the repository
EVENTS = ["person.created", "person.updated", "person.deleted",
          "employment.created", "employment.updated", "employment.deleted"]


def test_a_disabled_personio_webhook_is_notified_once(tmp_path: Path, targets: Targets) -> None:
    url = "http://127.0.0.1:8360"
    with Sandbox(tmp_path, size=8, rate_limits=False, environment="production",
                 extra_toml=f'\n[webhooks]\npublic_url = "{url}"\n\n' + targets.toml()) as sb:
        sb.personio.webhooks.create({
            "url": f"{url}/hooks/personio", "description": "personio360 (production)",
            "status": "DISABLED", "auth_type": "TOKEN", "token": TOKEN, "enabled_events": EVENTS})
        subs = [sb.lms.webhooks.create(event, "personio360 (production)", f"{url}/hooks/360learning")
                for event in ("user.updated", "user.deleted", "user.reactivated")]
        environ = {**sb.environ, **ENVIRON, "PERSONIO_WEBHOOK_TOKEN": TOKEN,
                   "LEARNING360_WEBHOOK_SECRET": " ".join(sb.lms.webhooks.secret(s["_id"]) for s in subs)}
        settings = load_config(sb.config_path)
        store = open_store(settings.state_url)
        try:
            watch = FeedWatch(settings, store, environ=environ)
            watch.watch_subscriptions()
            assert targets.counts() == (1, 1)
            assert "personio" in targets.hook.posts[0]["message"].lower()
            watch.watch_subscriptions()  # still disabled: no second message (deduplicated)
            assert targets.counts() == (1, 1)
            hook = sb.personio.webhooks.all()[0]
            sb.personio.webhooks.update(hook["id"], {"status": "ENABLED"})
            watch.watch_subscriptions()  # back: one "cleared" message
            assert targets.counts() == (2, 2)
        finally:
            store.close()
