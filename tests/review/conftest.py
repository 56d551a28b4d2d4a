"""Fixtures for issue 8 (saved plans, explain): a small sandboxed company over real HTTP on 127.0.0.1,
and ``validated``, which holds every saved plan of this suite to ``schemas/plan.schema.json``."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import stamina

from personio360.config import Settings, load_config
from personio360.emulators.sandbox import Sandbox
from personio360.sync.report import RunReport
from personio360.sync.run import Prepared, prepare_plan, run_sync
from personio360.sync.saved import SavedPlan, build_document, load_saved
from personio360.wiring import Context, open_context

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "schemas" / "plan.schema.json"
SCHEMA = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
_VALIDATOR = jsonschema.Draft202012Validator(SCHEMA, format_checker=jsonschema.FormatChecker())


def validated(document: dict[str, Any]) -> dict[str, Any]:
    """The document, once the published JSON Schema accepts it (every saved plan goes through here)."""
    _VALIDATOR.validate(document)
    return document


@pytest.fixture(autouse=True)
def _stamina_testing() -> Iterator[None]:
    """Retries without waiting, three attempts at most."""
    stamina.set_testing(True, attempts=3)
    yield
    stamina.set_testing(False)


class ReviewEnv:
    """One sandboxed company (both emulators), its settings, an open context, and plan helpers."""

    def __init__(self, sb: Sandbox, stack: contextlib.ExitStack) -> None:
        self.sb = sb
        self.stack = stack
        self.settings: Settings = load_config(sb.config_path)
        self.ctx: Context = stack.enter_context(open_context(
            self.settings, environ=sb.environ, rate_limit_factor=sb.client_rate_factor))

    def prepare(self, **options: Any) -> Prepared:
        return prepare_plan(self.settings, self.ctx.personio, self.ctx.lms, self.ctx.store, **options)

    def save(self, name: str = "plan.json", *, created_at: dt.datetime | None = None,
             employee_id: int | None = None, allow_deletions: bool = False) -> Path:
        """``plan --out``: the schema-validated document, written to the sandbox directory."""
        prepared = self.prepare(employee_id=employee_id, allow_deletions=allow_deletions)
        doc = validated(build_document(prepared.plan, prepared.snapshot, self.settings,
                                       employee_id=employee_id, allow_deletions=allow_deletions,
                                       created_at=created_at))
        path = self.sb.directory / name
        path.write_text(json.dumps(doc, indent=2, ensure_ascii=False), encoding="utf-8")
        return path

    def sync(self, saved: Path | SavedPlan | None = None, **options: Any) -> RunReport:
        plan = load_saved(saved) if isinstance(saved, Path) else saved
        return run_sync(self.settings, self.ctx.personio, self.ctx.lms, self.ctx.store,
                        bulk_poll_interval=0.01, saved=plan, **options)

    def reconfigure(self, edit: Callable[[str], str]) -> None:
        """Edit the config file's text and reload the settings (same store and clients)."""
        path = self.sb.config_path
        path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
        self.settings = load_config(path)

    def writes(self) -> int:
        """Calls that change 360Learning: plain writes and bulk submissions."""
        return self.sb.lms.stats.count("write") + self.sb.lms.stats.count("bulk")

    def user_id_of(self, employee_id: int) -> str:
        return self.ctx.store.links.active()[employee_id].user_id

    def plain_employees(self) -> list[int]:
        """Linked, in-scope employees without a planted edge case and who supervise nobody."""
        company = self.sb.company
        odd = {i for ids in company.edge_cases.values() for i in ids}
        bosses = {e.get("supervisor") for e in self.sb.personio.state.employees()}
        links = self.ctx.store.links.active()
        return sorted(e["id"] for e in self.sb.personio.state.employees()
                      if e["id"] in links and e["id"] not in odd and e["id"] not in bosses
                      and e.get("status") == "active")


MakeEnv = Callable[..., ReviewEnv]


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[MakeEnv]:
    """Build sandboxed companies (``Sandbox`` options: 24 employees, seed 3, no rate limits)."""
    with contextlib.ExitStack() as stack:
        count = 0

        def make(**options: Any) -> ReviewEnv:
            nonlocal count
            count += 1
            defaults: dict[str, Any] = {"size": 24, "seed": 3, "rate_limits": False}
            sb = stack.enter_context(Sandbox(tmp_path / f"env{count}", **{**defaults, **options}))
            return ReviewEnv(sb, stack)

        yield make


@pytest.fixture
def env(make_env: MakeEnv) -> ReviewEnv:
    """A company before its first sync."""
    return make_env()


@pytest.fixture
def synced(env: ReviewEnv) -> ReviewEnv:
    """A company after a first sync: everyone in scope is linked."""
    env.sync()
    return env
