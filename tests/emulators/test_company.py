"""The seeded company generator: determinism, realism, edge cases, install and files."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from pathlib import Path

import httpx
import pytest

from personio360.emulators.company import (
    Company,
    ascii_fold,
    generate_company,
    install,
    learning360_state_for,
    load_company,
    save_company,
)
from personio360.emulators.personio import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    PersonioEmulator,
    PersonioState,
)

EDGE_CASES = {"missing_email", "duplicate_email", "invalid_email", "padded_email",
              "mixed_case_email", "empty_position", "supervisor_left", "non_ascii_names",
              "adoptable"}


@pytest.fixture(scope="module")
def company() -> Company:
    return generate_company(120, seed=42)


def test_same_seed_same_company_other_seed_other_company() -> None:
    """generate_company is a pure function of (size, seed)."""
    assert generate_company(80, seed=3) == generate_company(80, seed=3)
    assert generate_company(80, seed=3) != generate_company(80, seed=4)


@pytest.mark.parametrize("seed", range(8))
def test_every_edge_case_is_present_from_20_employees(seed: int) -> None:
    """Each deliberate data problem is planted, on the employees the map names."""
    company = generate_company(20, seed)
    assert set(company.edge_cases) == EDGE_CASES
    cases = {k: [company.employee(i) for i in v] for k, v in company.edge_cases.items()}
    assert cases["missing_email"][0].email is None
    first, second = cases["duplicate_email"]
    assert first.email == second.email
    assert first.id != second.id
    assert "@" not in (cases["invalid_email"][0].email or "@")
    padded = cases["padded_email"][0].email or ""
    assert padded != padded.strip()
    mixed = cases["mixed_case_email"][0].email or ""
    assert mixed != mixed.lower()
    assert cases["empty_position"][0].position == ""
    leaver = cases["supervisor_left"][0]
    assert leaver.status == "inactive"
    assert leaver.termination_date is not None
    assert any(e.supervisor_id == leaver.id and e.status == "active" for e in company.employees)


def test_supervisor_tree_has_one_ceo_at_the_top(company: Company) -> None:
    """Exactly one employee has no supervisor; every chain ends at them, without cycles."""
    by_id = {e.id: e for e in company.employees}
    [ceo] = [e for e in company.employees if e.supervisor_id is None]
    assert ceo.position == "CEO"
    for employee in company.employees:
        seen: set[int] = set()
        top = employee
        while top.supervisor_id is not None:
            assert top.id not in seen
            seen.add(top.id)
            top = by_id[top.supervisor_id]
        assert top is ceo


def test_company_looks_real(company: Company) -> None:
    """Several offices and departments, teams, mostly active staff, non-ASCII names."""
    people = company.employees
    assert len(people) == 120
    assert len({e.id for e in people}) == 120
    assert len({e.office for e in people}) >= 3
    assert {"Engineering", "Sales"} <= {e.department for e in people}
    assert len({e.team for e in people if e.team}) >= 5
    assert len({e.subcompany for e in people}) >= 2
    statuses = Counter(e.status for e in people)
    assert statuses["active"] / len(people) > 0.7
    assert statuses["inactive"]
    assert statuses["onboarding"] + statuses["leave"]
    names = {e.first_name for e in people} | {e.last_name for e in people}
    assert {"Zoë", "Łukasz", "Ægir", "Søren", "José", "Ünal", "李"} <= names
    assert all(e.hire_date is not None for e in people)
    assert {a.key for a in company.attributes} >= {"dynamic_1000001", "dynamic_1000003"}


def test_emails_are_folded_names_except_the_planted_problems(company: Company) -> None:
    """Ordinary emails are lower-case ASCII first.last@domain, unique."""
    planted = {i for k, ids in company.edge_cases.items()
               if k not in ("non_ascii_names", "adoptable", "supervisor_left") for i in ids}
    ordinary = [e for e in company.employees if e.id not in planted]
    pattern = re.compile(rf"^[a-z0-9.-]+@{re.escape(company.domain)}$")
    assert all(pattern.match(e.email or "") for e in ordinary)
    assert len({e.email for e in ordinary}) == len(ordinary)
    assert ascii_fold("Łukasz") == "lukasz"
    assert ascii_fold("Ægir") == "aegir"
    assert ascii_fold("李") == "li"
    assert ascii_fold("Sigurðsson") == "sigurdsson"


def test_lms_side_exercises_groups_and_adoption(company: Company) -> None:
    """Synced group, partial office/department groups, odd spacing, private and outside groups,
    connector admin, unmanaged users and adoptable users (one with a different case)."""
    lms = company.lms
    groups = {g.key: g for g in lms.groups}
    assert groups[lms.synced_group].name == "All employees"
    assert groups[lms.synced_group].parent == "root"
    offices = [g for g in lms.groups if g.parent == lms.synced_group and g.public]
    assert 0 < len(offices) < len({e.office for e in company.employees})
    assert any(g.name != g.name.strip() for g in lms.groups)
    assert any(not g.public for g in lms.groups)
    assert any(g.parent == "root" and g.key != lms.synced_group for g in lms.groups)
    assert any(groups[g.parent].parent == lms.synced_group for g in lms.groups
               if g.parent in groups)
    kinds = Counter(u.kind for u in lms.users)
    assert kinds["connector_admin"] == 1
    assert kinds["unmanaged"] >= 2
    assert kinds["adoptable"] >= 3
    admin = next(u for u in lms.users if u.kind == "connector_admin")
    assert admin.mail == f"lms-admin@{company.domain}"
    assert ("root", "admin") in admin.roles
    adoptable = [u for u in lms.users if u.kind == "adoptable"]
    for user in adoptable:
        assert user.employee_id is not None
        assert user.mail.lower() == (company.employee(user.employee_id).email or "").lower()
    assert any(u.mail != u.mail.lower() for u in adoptable)


def test_install_loads_both_emulators(company: Company) -> None:
    """install hires every employee and builds the 360Learning side; ids come back."""
    personio = PersonioState()
    lms = learning360_state_for(company)
    installed = install(company, personio, lms)
    assert len(personio) == len(company.employees)
    assert personio.employee(company.employees[3].id)["office"] == company.employees[3].office
    assert personio.attributes()["dynamic_1000004"].whitelisted is False
    assert lms.group(installed.synced_group_id).name == "All employees"
    assert lms.group(installed.synced_group_id).parent_id == installed.root_group_id
    assert lms.group(installed.root_group_id).name == company.name
    assert len(lms.groups()) == len(company.lms.groups) + 1
    admin = lms.user(installed.user_ids[installed.connector_admin_email])
    assert admin.mail == installed.connector_admin_email
    roles = {(r.group_id, r.role) for r in lms.roles_of_user(admin.id)}
    assert (installed.root_group_id, "admin") in roles
    assert installed.user_ids[company.lms.owner_email] == lms.owner_id
    assert installed.attribute_keys["T-shirt size"] == "dynamic_1000001"


def test_installed_company_is_served_over_http(company: Company) -> None:
    """Every installed employee is readable through the API, page by page."""
    emulator = PersonioEmulator(rate_limits=False)
    install(company, emulator.state, learning360_state_for(company))
    with emulator, httpx.Client(base_url=emulator.url) as http:
        token = http.post("/v1/auth", json={"client_id": DEFAULT_CLIENT_ID,
                                            "client_secret": DEFAULT_CLIENT_SECRET})
        http.headers["Authorization"] = f"Bearer {token.json()['data']['token']}"
        ids = []
        for offset in range(0, 200, 100):
            page = http.get("/v1/company/employees", params={"limit": 100, "offset": offset})
            ids += [e["attributes"]["id"]["value"] for e in page.json()["data"]]
    assert ids == sorted(e.id for e in company.employees)


def test_company_file_round_trip(company: Company, tmp_path: Path) -> None:
    """save_company then load_company gives the same company back."""
    path = tmp_path / "company.json"
    save_company(company, path)
    assert load_company(path) == company
    assert "Łukasz" in path.read_text(encoding="utf-8")


def test_hand_written_company_file_gets_a_default_lms_side(tmp_path: Path) -> None:
    """A minimal hand-written file loads, and installs with a synced group and an admin."""
    path = tmp_path / "tiny.json"
    path.write_text("""{"name": "Tiny", "domain": "tiny.example", "employees": [
        {"id": 2, "first_name": "Bo", "last_name": "B", "email": "bo@tiny.example",
         "supervisor_id": 1, "hire_date": "2020-01-02"},
        {"id": 1, "first_name": "Al", "last_name": "A", "email": "al@tiny.example"}]}""",
                    encoding="utf-8")
    tiny = load_company(path)
    installed = install(tiny, personio := PersonioState(), learning360_state_for(tiny))
    assert personio.employee(2)["supervisor"] == 1
    assert installed.connector_admin_email == "lms-admin@tiny.example"
    assert dataclasses.asdict(tiny)["employees"][0]["hire_date"].isoformat() == "2020-01-02"


def test_size_must_be_positive() -> None:
    """A company of zero employees is refused; one employee is a lone CEO."""
    with pytest.raises(ValueError, match="at least one"):
        generate_company(0, seed=1)
    [ceo] = generate_company(1, seed=1).employees
    assert ceo.supervisor_id is None
