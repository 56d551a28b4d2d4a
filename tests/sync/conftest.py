"""Fixtures for the end-to-end sync tests: a Sandbox (both emulators, a generated company),
its config, and an opened context, driven over real HTTP on 127.0.0.1.

``make_env(**sandbox_options)`` builds one ``SyncEnv`` per call (function scope, torn down at
the end of the test); ``env`` is the default one: 40 employees, seed 3, the sandbox's group
structure and custom fields. Helpers read outcomes from the emulator states and the store,
never call order.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import stamina

from personio360.config import Settings, load_config
from personio360.domain import LEARNER, Employee, ExternalId, Link, LmsUser
from personio360.emulators.company import CompanyEmployee, InstalledCompany
from personio360.emulators.learning360.state import Learning360State
from personio360.emulators.personio.state import PersonioState
from personio360.emulators.sandbox import Sandbox
from personio360.sync.check import CheckResult, run_checks
from personio360.sync.operations import Plan
from personio360.sync.report import RunReport
from personio360.sync.run import prepare_plan, run_sync
from personio360.wiring import Context, open_context

PLATFORM = "personio"
DEFAULTS: dict[str, Any] = {"size": 40, "seed": 3, "rate_limits": False}


@pytest.fixture(autouse=True)
def _stamina_testing() -> Iterator[None]:
    """Retries without waiting, three attempts at most."""
    stamina.set_testing(True, attempts=3)
    yield
    stamina.set_testing(False)


class SyncEnv:
    """One sandboxed company with its settings and an open context, plus outcome readers."""

    def __init__(self, sb: Sandbox, stack: contextlib.ExitStack) -> None:
        self.sb = sb
        self._stack = stack
        self.settings: Settings = load_config(sb.config_path)
        self.ctx: Context = stack.enter_context(self.open())

    def open(self, environ: Mapping[str, str] | None = None,
             settings: Settings | None = None) -> contextlib.AbstractContextManager[Context]:
        """A (further) context on the sandbox, e.g. with other credentials."""
        return open_context(settings or self.settings, environ=environ or self.sb.environ,
                            rate_limit_factor=self.sb.client_rate_factor)

    # --- driving -------------------------------------------------------------------------

    def sync(self, **options: Any) -> RunReport:
        return run_sync(self.settings, self.ctx.personio, self.ctx.lms, self.ctx.store,
                        bulk_poll_interval=0.01, **options)

    def plan(self, **options: Any) -> Plan:
        return prepare_plan(self.settings, self.ctx.personio, self.ctx.lms, self.ctx.store,
                            **options).plan

    def check(self, ctx: Context | None = None,
              settings: Settings | None = None) -> list[CheckResult]:
        ctx = ctx or self.ctx
        return run_checks(settings or self.settings, ctx.personio, ctx.lms)

    def reconfigure(self, **sandbox_changes: Any) -> None:
        """Rewrite the config (e.g. ``extra_toml``) and reload the settings; same store, clients."""
        for key, value in sandbox_changes.items():
            setattr(self.sb, key, value)
        self.sb.write_config()
        self.settings = load_config(self.sb.config_path)

    def settings_with_fresh_store(self, name: str = "fresh") -> Settings:
        """The same config with another, empty state store (a lost or new store, SPEC §4)."""
        text = self.sb.config_path.read_text(encoding="utf-8")
        old = self.settings.state_url
        fresh = (self.sb.directory / f"{name}.db").as_posix()
        path = self.sb.directory / f"{name}.toml"
        path.write_text(text.replace(old, f"sqlite:///{fresh}"), encoding="utf-8")
        settings = load_config(path)
        assert settings.state_url != old
        return settings

    # --- the two sides ---------------------------------------------------------------------

    @property
    def lms(self) -> Learning360State:
        return self.sb.lms.state

    @property
    def personio(self) -> PersonioState:
        return self.sb.personio.state

    @property
    def installed(self) -> InstalledCompany:
        return self.sb.installed

    @property
    def synced_group(self) -> str:
        return self.sb.installed.synced_group_id

    def edge(self, case: str) -> list[int]:
        return self.sb.company.edge_cases[case]

    def employee(self, employee_id: int) -> CompanyEmployee:
        return self.sb.company.employee(employee_id)

    def writes(self) -> int:
        """Calls that change 360Learning: plain writes and bulk submissions."""
        return self.sb.lms.stats.count("write") + self.sb.lms.stats.count("bulk")

    def in_scope_ids(self) -> list[int]:
        return [e["id"] for e in self.personio.employees()
                if e.get("status") in ("active", "onboarding", "leave")]

    def clean_ids(self) -> list[int]:
        """In-scope employees without a planted email problem (R15)."""
        bad = {i for case in ("missing_email", "invalid_email", "duplicate_email")
               for i in self.sb.company.edge_cases.get(case, [])}
        return [i for i in self.in_scope_ids() if i not in bad]

    # --- the store -------------------------------------------------------------------------

    def links(self) -> dict[int, Link]:
        return self.ctx.store.links.active()

    def user_id_of(self, employee_id: int) -> str:
        return self.links()[employee_id].user_id

    def user_of(self, employee_id: int) -> LmsUser:
        return self.lms.user(self.user_id_of(employee_id))

    # --- 360Learning outcomes --------------------------------------------------------------

    def learner_groups(self, user_id: str) -> set[str]:
        return {r.group_id for r in self.lms.roles_of_user(user_id) if r.role == LEARNER}

    def learners(self, group_id: str) -> set[str]:
        return {r.user_id for r in self.lms.roles_of_group(group_id) if r.role == LEARNER}

    def external_ids(self, user_id: str) -> list[ExternalId]:
        return [m for m in self.lms.external_ids() if m.target_id == user_id]

    def external_value(self, user_id: str) -> str | None:
        found = [m.value for m in self.external_ids(user_id) if m.platform == PLATFORM]
        return found[0] if found else None

    def full_state(self, user_id: str) -> dict[str, Any]:
        """Everything 360Learning holds about one user (for "never touched" comparisons)."""
        record = self.lms.user_record(user_id)
        return {
            "record": (record.status, dict(record.profile), record.deleted_at,
                       record.reactivated_at),
            "roles": sorted((r.group_id, r.role) for r in self.lms.roles_of_user(user_id)),
            "managers": self.lms.managers_of(user_id),
            "subordinates": self.lms.subordinates_of(user_id),
            "values": sorted((v.custom_field_id, v.value) for v in self.lms.custom_values(user_id)),
            "external_ids": sorted((m.platform, m.value) for m in self.external_ids(user_id)),
        }

    def platform_by_mail(self) -> dict[str, dict[str, Any]]:
        """The platform by mail, ids replaced by mails and names: comparable across sandboxes."""
        mail_of = {u.id: (u.mail or "").lower() for u in self.lms.users()}
        group_name = {g.id: g.name for g in self.lms.groups()}
        field_name = {f.id: f.name for f in self.lms.custom_fields()}
        out: dict[str, dict[str, Any]] = {}
        for user in self.lms.users():
            out[mail_of[user.id]] = {
                "names": (user.first_name, user.last_name, user.job),
                "status": user.status,
                "deactivation": user.to_be_deactivated_at,
                "learner_of": sorted(group_name[g] for g in self.learner_groups(user.id)),
                "roles": sorted((group_name[r.group_id], r.role)
                                for r in self.lms.roles_of_user(user.id)),
                "managers": sorted(mail_of[m] for m in self.lms.managers_of(user.id)),
                "external_ids": sorted((m.platform, m.value) for m in self.external_ids(user.id)),
                "values": sorted((field_name[v.custom_field_id], v.value)
                                 for v in self.lms.custom_values(user.id)),
            }
        return out


MakeEnv = Callable[..., SyncEnv]


@pytest.fixture
def make_env(tmp_path: Path) -> Iterator[MakeEnv]:
    """Build sandboxed environments (``Sandbox`` options override ``DEFAULTS``)."""
    with contextlib.ExitStack() as stack:
        count = 0

        def make(**options: Any) -> SyncEnv:
            nonlocal count
            count += 1
            sb = stack.enter_context(Sandbox(tmp_path / f"env{count}", **{**DEFAULTS, **options}))
            stack.callback(_signal_stop, sb)
            return SyncEnv(sb, stack)

        yield make


def _signal_stop(sb: Sandbox) -> None:
    """Ask both servers to exit at once, so the Sandbox's sequential stop waits only once."""
    for server in (getattr(sb, "_personio_server", None), sb.lms.server):
        if server is not None:
            server.server.should_exit = True


@pytest.fixture
def env(make_env: MakeEnv) -> SyncEnv:
    """The default company: 40 employees, offices and departments, two custom fields."""
    return make_env()


@pytest.fixture
def flat_env(make_env: MakeEnv) -> SyncEnv:
    """One synced group, no group structure, no custom fields."""
    return make_env(levels=(), custom_fields={})


def employee_of(env: SyncEnv, employee_id: int) -> Employee:
    """The employee as the connector reads it (through the Personio client)."""
    return env.ctx.personio.get_employee(employee_id)

