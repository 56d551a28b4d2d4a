"""Seeded generator of realistic companies for both emulators (SPEC §5), and their JSON files.

``generate_company(size, seed)`` is deterministic: the same arguments give the same company on
every machine (no clock, no global RNG). A company is plain data; ``install`` loads it into a
``PersonioState`` and a ``Learning360State`` and returns the ids a connector config needs.
"""

from __future__ import annotations

__all__ = [
    "FILE_FORMAT",
    "REFERENCE_DAY",
    "Company",
    "CompanyAttribute",
    "CompanyEmployee",
    "InstalledCompany",
    "LmsGroupSpec",
    "LmsSide",
    "LmsUserSpec",
    "ascii_fold",
    "generate_company",
    "install",
    "learning360_state_for",
    "load_company",
    "save_company",
]

import dataclasses
import datetime as dt
import json
import random
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from personio360.emulators.learning360.state import Learning360State
    from personio360.emulators.personio.state import PersonioState

#: "Today" for generated companies: fixed, so a seed gives the same company on any day.
REFERENCE_DAY = dt.date(2025, 6, 2)

# --- plain data ---------------------------------------------------------------------------


@dataclass
class CompanyAttribute:
    """A custom Personio attribute (``dynamic_NNNN``) of the company's catalogue."""

    key: str
    label: str
    type: str = "standard"
    whitelisted: bool = True
    options: list[str] = field(default_factory=list)


@dataclass
class CompanyEmployee:
    """One Personio employee as simple values; ``custom`` maps ``dynamic_NNNN`` keys to values."""

    id: int
    first_name: str
    last_name: str
    email: str | None
    status: str = "active"
    position: str | None = None
    office: str | None = None
    department: str | None = None
    team: str | None = None
    subcompany: str | None = None
    supervisor_id: int | None = None
    hire_date: dt.date | None = None
    termination_date: dt.date | None = None
    gender: str | None = None
    employment_type: str = "internal"
    weekly_working_hours: int = 40
    cost_centers: list[str] = field(default_factory=list)
    custom: dict[str, Any] = field(default_factory=dict)

    def attributes(self) -> dict[str, Any]:
        """Keyword arguments for ``PersonioState.hire`` (id included)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if f.name not in ("supervisor_id", "custom")}
        values["supervisor"] = self.supervisor_id
        values.update(self.custom)
        return values


@dataclass
class LmsGroupSpec:
    """A 360Learning group to create; ``parent`` is another spec's ``key`` (``root``: the root)."""

    key: str
    name: str
    parent: str = "root"
    public: bool = True


@dataclass
class LmsUserSpec:
    """A pre-existing 360Learning user; ``kind``: owner, connector_admin, unmanaged, adoptable."""

    mail: str
    kind: str
    first_name: str | None = None
    last_name: str | None = None
    job: str | None = None
    roles: list[tuple[str, str]] = field(default_factory=list)  # (group key, role)
    employee_id: int | None = None


@dataclass
class LmsSide:
    """The company's 360Learning platform before any sync."""

    root_name: str
    synced_group: str
    connector_admin_email: str
    owner_email: str
    groups: list[LmsGroupSpec] = field(default_factory=list)
    users: list[LmsUserSpec] = field(default_factory=list)


@dataclass
class Company:
    """A generated (or hand-written) company: Personio employees and the 360Learning side.

    ``edge_cases`` names the employee ids that carry each deliberate data problem, so tests
    can find them: ``missing_email``, ``duplicate_email``, ``invalid_email``, ``padded_email``,
    ``mixed_case_email``, ``empty_position``, ``supervisor_left``, ``non_ascii_names``.
    """

    name: str
    domain: str
    attributes: list[CompanyAttribute]
    employees: list[CompanyEmployee]
    lms: LmsSide
    edge_cases: dict[str, list[int]] = field(default_factory=dict)
    seed: int | None = None

    def employee(self, employee_id: int) -> CompanyEmployee:
        return next(e for e in self.employees if e.id == employee_id)


@dataclass(frozen=True)
class InstalledCompany:
    """What a connector config and a test need once a company is loaded into both emulators."""

    company: Company
    synced_group_id: str
    root_group_id: str
    connector_admin_email: str
    group_ids: dict[str, str]  # group spec key -> 360Learning id
    user_ids: dict[str, str]  # pre-existing user mail -> 360Learning id
    attribute_keys: dict[str, str]  # custom attribute label -> key (dynamic_NNNN)
    group_levels: tuple[str, ...] = ("office", "department")


# --- pools ----------------------------------------------------------------------------------

_OFFICES = [  # city, country, subcompany suffix
    ("Berlin", "DE", "GmbH"), ("München", "DE", "GmbH"), ("Paris", "FR", "France SAS"),
    ("London", "GB", "UK Ltd"), ("Madrid", "ES", "Iberia S.L."), ("Wien", "AT", "Austria GmbH"),
    ("Amsterdam", "NL", "B.V."), ("Zürich", "CH", "Schweiz AG"),
    ("Kraków", "PL", "Polska sp. z o.o."),
]
_DEPARTMENTS = {  # department -> (weight, code, teams, positions)
    "Engineering": (30, "ENG", ["Platform", "Mobile", "Data"],
                    ["Software Engineer", "Senior Software Engineer", "QA Engineer", "SRE"]),
    "Sales": (18, "SAL", ["Inbound", "Enterprise"], ["Account Executive", "Sales Development Rep"]),
    "Customer Success": (14, "CS", ["Onboarding", "Support"],
                         ["Customer Success Manager", "Support Specialist"]),
    "Marketing": (10, "MKT", ["Brand", "Growth"], ["Content Marketer", "Growth Marketer"]),
    "Finance": (7, "FIN", ["Accounting"], ["Accountant", "Financial Analyst"]),
    "HR": (6, "HR", ["People Ops", "Recruiting"], ["HR Generalist", "Recruiter"]),
    "Operations": (8, "OPS", ["IT", "Workplace"], ["IT Administrator", "Office Manager"]),
    "Product": (7, "PRD", ["Discovery"], ["Product Manager", "Product Designer"]),
}
_NAMES = {  # country -> (female first names, male first names, last names)
    "DE": (["Anna", "Lea", "Jürgen", "Mia", "Sophie"], ["Lukas", "Jonas", "Jörg", "Felix"],
           ["Müller", "Schmidt", "Schröder", "Weiß", "Becker", "Groß", "Köhler"]),
    "AT": (["Anna", "Lena"], ["Florian", "Matthias"], ["Gruber", "Huber", "Pölzl"]),
    "FR": (["Zoë", "Hélène", "Chloé", "Léa"], ["François", "Jérôme", "Loïc"],
           ["Dubois", "Lefèvre", "Moreau", "Girard"]),
    "GB": (["Olivia", "Emily", "Grace"], ["Oliver", "Harry", "George"],
           ["Smith", "O'Brien", "Taylor", "Walsh"]),
    "ES": (["María", "Lucía", "Inés"], ["José", "Íñigo", "Álvaro"], ["Núñez", "García", "Peña"]),
    "NL": (["Sanne", "Femke"], ["Daan", "Bram"], ["de Vries", "van Dijk", "Bakker"]),
    "CH": (["Zoë", "Nina"], ["Noah", "Luca"], ["Meier", "Brunner", "Käser"]),
    "PL": (["Zofia", "Małgorzata"], ["Łukasz", "Paweł"], ["Wróbel", "Nowak", "Wiśniewski"]),
}
_INTERNATIONAL = [("Åsa", "Lindqvist", "female"), ("Ayşe", "Yılmaz", "female"),  # noqa: RUF001
                  ("芳", "王", "female"), ("Søren", "Kjærgaard", "male"),
                  ("Ægir", "Sigurðsson", "male"), ("Ünal", "Öztürk", "male"), ("伟", "李", "male")]
_FORCED_NAMES = [("Zoë", "Dubois", "female"), ("Łukasz", "Wróbel", "male"),
                 ("Ægir", "Sigurðsson", "male"), ("Søren", "Kjærgaard", "male"),
                 ("José", "Núñez", "male"), ("Ünal", "Öztürk", "male"), ("伟", "李", "male")]
_COMPANY_NAMES = ["Nordwind", "Lumora", "Kestrel Labs", "Brightfield", "Alpenglow", "Tessera"]
_CUSTOM = [
    CompanyAttribute("dynamic_1000001", "T-shirt size", "list",
                     options=["XS", "S", "M", "L", "XL", "XXL"]),
    CompanyAttribute("dynamic_1000002", "Cost center code"),
    CompanyAttribute("dynamic_1000003", "Probation end", "date"),
    CompanyAttribute("dynamic_1000004", "Salary band", whitelisted=False),
    CompanyAttribute("dynamic_1000005", "Languages", "tags",
                     options=["English", "German", "French", "Spanish", "Polish"]),
]
_ROMAN = {"李": "li", "王": "wang", "伟": "wei", "芳": "fang"}
_FOLD = str.maketrans({"ß": "ss", "Æ": "Ae", "æ": "ae", "Ø": "O", "ø": "o", "Ł": "L", "ł": "l",
                       "Ð": "D", "ð": "d", "Þ": "Th", "þ": "th", "Œ": "Oe", "œ": "oe"})


def ascii_fold(text: str) -> str:
    """Lower-case ASCII for an email local part: ``Łukasz`` -> ``lukasz``, ``李`` -> ``li``."""
    text = "".join(_ROMAN.get(c, c) for c in text).translate(_FOLD)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9-]", "", text.lower().replace(" ", "-"))


# --- generation -----------------------------------------------------------------------------


class _Builder:
    """Keeps the RNG and running state of one generation."""

    def __init__(self, size: int, seed: int, today: dt.date) -> None:
        self.rng, self.size, self.today = random.Random(seed), size, today
        self.name = self.rng.choice(_COMPANY_NAMES)
        self.domain = ascii_fold(self.name) + ".example"
        extra = self.rng.sample(_OFFICES[1:], min(len(_OFFICES) - 1, 1 + size // 60))
        self.offices = [_OFFICES[0], *extra]
        wanted = min(len(_DEPARTMENTS), 3 + size // 25, max(1, size - 1))
        self.departments = list(_DEPARTMENTS)[:wanted]
        self.employees: list[CompanyEmployee] = []
        self.emails: set[str] = set()
        #: local part -> the suffix its last search ended on (see ``email``)
        self.tried: dict[str, int] = {}
        self.founded = today - dt.timedelta(days=365 * 8)

    def person(self, country: str) -> tuple[str, str, str]:
        if self.rng.random() < 0.15:
            return self.rng.choice(_INTERNATIONAL)
        pool = _NAMES[country]
        gender = self.rng.choice(["female", "male"])
        first = self.rng.choice(pool[0] if gender == "female" else pool[1])
        return first, self.rng.choice(pool[2]), gender

    def email(self, first: str, last: str) -> str:
        """``first.last@domain``, else ``first.last2``, ``first.last3``... the first one free.

        Each local part's counter resumes where its last search stopped: the addresses below
        it were taken then and still are (the set only grows), so the result is the same as
        searching from 1, in linear time (100,000 employees share a few hundred names)."""
        local = f"{ascii_fold(first) or 'employee'}.{ascii_fold(last) or 'employee'}"
        n = self.tried.get(local, 1)
        candidate = local if n == 1 else f"{local}{n}"
        while f"{candidate}@{self.domain}" in self.emails:
            n += 1
            candidate = f"{local}{n}"
        self.tried[local] = n
        self.emails.add(f"{candidate}@{self.domain}")
        return f"{candidate}@{self.domain}"

    def add(self, *, department: str | None, team: str | None, position: str,
            supervisor: int | None, office: tuple[str, str, str] | None = None,
            name: tuple[str, str, str] | None = None, status: str = "active") -> CompanyEmployee:
        rng = self.rng
        city, country, suffix = office or self.pick_office()
        first, last, gender = name or self.person(country)
        hire = self.founded + dt.timedelta(days=rng.randrange((self.today - self.founded).days))
        termination = None
        if status == "onboarding":
            hire = self.today + dt.timedelta(days=rng.randint(1, 45))
        elif status == "inactive":
            termination = hire + dt.timedelta(days=rng.randint(90, 900))
            termination = min(termination, self.today - dt.timedelta(days=1))
        code = _DEPARTMENTS[department][1] if department in _DEPARTMENTS else "MGT"
        employee = CompanyEmployee(
            id=1001 + len(self.employees), first_name=first, last_name=last,
            email=self.email(first, last), status=status, position=position, office=city,
            department=department, team=team, subcompany=f"{self.name} {suffix}",
            supervisor_id=supervisor, hire_date=hire, termination_date=termination,
            gender=gender, employment_type="external" if rng.random() < 0.05 else "internal",
            weekly_working_hours=rng.choice([40, 40, 40, 40, 32, 20]),
            cost_centers=[department or "Management"],
            custom={
                "dynamic_1000001": rng.choice([None, "XS", "S", "M", "M", "L", "XL", "XXL"]),
                "dynamic_1000002": f"CC-{code}-{ascii_fold(city)[:3].upper()}",
                "dynamic_1000003": hire + dt.timedelta(days=182),
                "dynamic_1000004": f"L{rng.randint(1, 6)}",
                "dynamic_1000005": sorted(rng.sample(_CUSTOM[4].options, rng.randint(1, 3))),
            })
        self.employees.append(employee)
        return employee

    def employee(self, employee_id: int) -> CompanyEmployee:
        return next(e for e in self.employees if e.id == employee_id)

    def pick_office(self) -> tuple[str, str, str]:
        if self.rng.random() < 0.4:
            return self.offices[0]
        return self.rng.choice(self.offices)

    def status(self) -> str:
        draw = self.rng.random()
        return ("onboarding" if draw < 0.04 else "leave" if draw < 0.08
                else "inactive" if draw < 0.14 else "active")

    def staff(self) -> dict[str, list[int]]:
        """CEO, department heads, team leads, then everyone else; returns the leads' ids."""
        ceo = self.add(department=None, team=None, position="CEO", supervisor=None,
                       office=self.offices[0])
        heads: dict[str, int] = {}
        leads: dict[tuple[str, str], int] = {}
        for department in self.departments[:self.size - 1]:
            heads[department] = self.add(department=department, team=None, supervisor=ceo.id,
                                         position=f"Head of {department}").id
        weights = [_DEPARTMENTS[d][0] for d in self.departments]
        forced = list(_FORCED_NAMES)
        while len(self.employees) < self.size:
            department = self.rng.choices(self.departments, weights)[0]
            team = self.rng.choice(_DEPARTMENTS[department][2])
            if (department, team) not in leads and len(leads) < self.size // 8:
                leads[department, team] = self.add(
                    department=department, team=team, supervisor=heads[department],
                    position=f"Team Lead {team}").id
                continue
            boss = leads.get((department, team), heads[department])
            name = forced.pop(0) if forced else None
            self.add(department=department, team=team, supervisor=boss,
                     position=self.rng.choice(_DEPARTMENTS[department][3]),
                     name=name, status="active" if name else self.status())
        return {"leads": list(leads.values()), "heads": list(heads.values())}


def generate_company(size: int, seed: int, *, today: dt.date = REFERENCE_DAY) -> Company:
    """A realistic company of ``size`` employees, the same for the same ``(size, seed)``.

    Every edge case of ``Company.edge_cases`` is present from 20 employees on (smaller
    companies get those that fit).
    """
    if size < 1:
        raise ValueError("a company needs at least one employee")
    builder = _Builder(size, seed, today)
    bosses = builder.staff()
    edge_cases = _edge_cases(builder, bosses)
    company = Company(name=builder.name, domain=builder.domain, attributes=list(_CUSTOM),
                      employees=builder.employees, lms=LmsSide("", "", "", ""),
                      edge_cases=edge_cases, seed=seed)
    company.lms = _lms_side(builder, company)
    return company


def _edge_cases(builder: _Builder, bosses: dict[str, list[int]]) -> dict[str, list[int]]:
    """Plant the data problems a real HR database has, on distinct ordinary employees."""
    people = builder.employees
    forced = [e.id for e in people if (e.first_name, e.last_name) in
              {(f, last) for f, last, _ in _FORCED_NAMES}]
    cases: dict[str, list[int]] = {"non_ascii_names": forced}
    reports = {e.supervisor_id for e in people if e.status == "active"}
    left = [i for i in bosses["leads"] + bosses["heads"] if i in reports]
    if left:
        boss = builder.employee(left[0])
        boss.status = "inactive"
        boss.termination_date = builder.today - dt.timedelta(days=20)
        cases["supervisor_left"] = [boss.id]
    skip = set(bosses["leads"]) | set(bosses["heads"]) | {people[0].id}
    pool = [e for e in people if e.status == "active" and e.id not in skip]
    builder.rng.shuffle(pool)

    def take(case: str, count: int = 1) -> list[CompanyEmployee]:
        if len(pool) < count:
            return []
        chosen = [pool.pop() for _ in range(count)]
        cases[case] = sorted(e.id for e in chosen)
        return chosen

    for e in take("missing_email"):
        e.email = None
    for first, second in [take("duplicate_email", 2)] if len(pool) >= 2 else []:
        second.email = first.email
    for e in take("invalid_email"):
        e.email = f"{ascii_fold(e.first_name)}.{ascii_fold(e.last_name)}(at){builder.domain}"
    for e in take("padded_email"):
        e.email = f"  {e.email} "
    for e in take("mixed_case_email"):
        local, _, host = (e.email or "").partition("@")
        e.email = f"{local.title()}@{host.capitalize()}"
    for e in take("empty_position"):
        e.position = ""
    cases["adoptable"] = [e.id for e in pool[:3]]  # plain, valid emails: see _lms_side
    return cases


def _lms_side(builder: _Builder, company: Company) -> LmsSide:
    """The 360Learning platform before the first sync: R7's hierarchy, R2's adoption cases."""
    domain, rng = builder.domain, builder.rng
    groups = [LmsGroupSpec("all", "All employees", "root"),
              LmsGroupSpec("leadership", "Leadership circle", "all", public=False),
              LmsGroupSpec("external", "External partners", "root")]
    cities = [city for city, _, _ in builder.offices]
    with_group = cities[:-1] if len(cities) > 1 else cities  # SOME offices only
    for index, city in enumerate(with_group):
        name = f"  {city.lower()} " if index == 1 else city  # trimmed, case-insensitive match
        groups.append(LmsGroupSpec(f"office:{city}", name, "all"))
    departments = builder.departments
    for department in departments[:max(1, len(departments) // 2)]:
        groups.append(LmsGroupSpec(f"office:{cities[0]}/{department}", department,
                                   f"office:{cities[0]}"))
    if len(with_group) > 1:
        department = rng.choice(departments)
        groups.append(LmsGroupSpec(f"office:{with_group[1]}/{department}",
                                   department.upper() + " ", f"office:{with_group[1]}"))
    users = [
        LmsUserSpec(f"platform-owner@{domain}", "owner", "Platform", "Owner", "L&D Lead"),
        LmsUserSpec(f"lms-admin@{domain}", "connector_admin", "LMS", "Admin",
                    roles=[("root", "admin")]),
        LmsUserSpec("trainer@partner-academy.example", "unmanaged", "Camille", "Trainer",
                    roles=[("external", "learner")]),
        LmsUserSpec(f"guest.intern@{domain}", "unmanaged", "Gästin", "Praktikum",
                    roles=[("all", "learner")]),
        LmsUserSpec("auditor@audit-firm.example", "unmanaged", "Ines", "Auditor",
                    roles=[("root", "learner")]),
    ]
    for index, employee_id in enumerate(company.edge_cases.get("adoptable", [])):
        employee = company.employee(employee_id)
        mail = employee.email or ""
        if index == 2:
            mail = mail.upper()  # adopt despite a different case (R2: case-insensitive)
        users.append(LmsUserSpec(mail, "adoptable", employee.first_name, employee.last_name,
                                 roles=[("all" if index != 1 else "root", "learner")],
                                 employee_id=employee_id))
    return LmsSide(root_name=company.name, synced_group="all", groups=groups, users=users,
                   connector_admin_email=f"lms-admin@{domain}",
                   owner_email=f"platform-owner@{domain}")


# --- installing -----------------------------------------------------------------------------


def learning360_state_for(company: Company, *, seed: int = 0) -> Learning360State:
    """A ``Learning360State`` whose root group and owner are the company's own."""
    from personio360.emulators.learning360.state import Learning360State  # noqa: PLC0415

    return Learning360State(seed=seed, owner_mail=company.lms.owner_email,
                            company_name=company.lms.root_name)


def install(company: Company, personio: PersonioState,
            lms: Learning360State) -> InstalledCompany:
    """Load ``company`` into both emulator states; return what a connector config names.

    Employees are hired supervisors first (Personio refuses an unknown supervisor). The
    360Learning root group and owner are the state's own (see ``learning360_state_for``);
    the owner spec maps onto them.
    """
    for attr in company.attributes:
        personio.define_attribute(attr.key, attr.label, attr.type, attr.whitelisted,
                                  options=attr.options)
    for employee in _supervisors_first(company.employees):
        personio.hire(**employee.attributes())
    group_ids = {"root": lms.root_group_id}
    for spec in _parents_first(company.lms.groups):
        group_ids[spec.key] = lms.add_group(spec.name, group_ids[spec.parent], spec.public).id
    user_ids: dict[str, str] = {}
    for user in company.lms.users:
        if user.kind == "owner":
            user_ids[user.mail] = lms.owner_id
            continue
        user_ids[user.mail] = lms.add_user(user.mail, user.first_name, user.last_name,
                                           user.job).id
        for group_key, role in user.roles:
            lms.add_role(group_ids[group_key], user_ids[user.mail], role)
    return InstalledCompany(
        company=company, synced_group_id=group_ids[company.lms.synced_group],
        root_group_id=lms.root_group_id,
        connector_admin_email=company.lms.connector_admin_email, group_ids=group_ids,
        user_ids=user_ids, attribute_keys={a.label: a.key for a in company.attributes})


def _supervisors_first(employees: list[CompanyEmployee]) -> list[CompanyEmployee]:
    ordered: list[CompanyEmployee] = []
    placed: set[int] = set()
    waiting = list(employees)
    while waiting:
        ready = [e for e in waiting if e.supervisor_id is None or e.supervisor_id in placed]
        if not ready:
            raise ValueError(f"unknown or circular supervisors: {[e.id for e in waiting]}")
        ordered += ready
        placed |= {e.id for e in ready}
        waiting = [e for e in waiting if e.id not in placed]
    return ordered


def _parents_first(groups: list[LmsGroupSpec]) -> list[LmsGroupSpec]:
    ordered: list[LmsGroupSpec] = []
    placed = {"root"}
    waiting = list(groups)
    while waiting:
        ready = [g for g in waiting if g.parent in placed]
        if not ready:
            raise ValueError(f"unknown or circular group parents: {[g.key for g in waiting]}")
        ordered += ready
        placed |= {g.key for g in ready}
        waiting = [g for g in waiting if g.key not in placed]
    return ordered


# --- company files --------------------------------------------------------------------------

#: ``format`` of a company file, so ``emulate --company FILE`` can refuse anything else.
FILE_FORMAT = "personio360-company/1"


def save_company(company: Company, path: str | Path) -> None:
    """Write ``company`` as a JSON company file (dates as ``YYYY-MM-DD``)."""
    data = {"format": FILE_FORMAT, **dataclasses.asdict(company)}
    text = json.dumps(data, ensure_ascii=False, indent=2, default=_encode)
    Path(path).write_text(text + "\n", encoding="utf-8")


def load_company(path: str | Path) -> Company:
    """Read a company file written by ``save_company`` or by hand.

    Only ``name``, ``domain`` and ``employees`` (each with ``id``, ``first_name``,
    ``last_name``, ``email``) are required; without ``lms`` the 360Learning side is a root
    group, a synced "All employees" group and the connector admin ``lms-admin@<domain>``.
    """
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if data.pop("format", FILE_FORMAT) != FILE_FORMAT:
        raise ValueError(f"{path}: not a {FILE_FORMAT} company file")
    attributes = [CompanyAttribute(**a) for a in data.get("attributes", [])]
    dates = {a.key for a in attributes if a.type == "date"}
    employees = [_employee(e, dates) for e in data["employees"]]
    lms = data.get("lms") or _default_lms(data["name"], data["domain"])
    users = [LmsUserSpec(**{**u, "roles": [tuple(r) for r in u.get("roles", [])]})
             for u in lms.get("users", [])]
    groups = [LmsGroupSpec(**g) for g in lms.get("groups", [])]
    side = LmsSide(**{**lms, "groups": groups, "users": users})
    return Company(name=data["name"], domain=data["domain"], attributes=attributes,
                   employees=employees, lms=side, edge_cases=data.get("edge_cases", {}),
                   seed=data.get("seed"))


def _employee(data: dict[str, Any], dates: set[str]) -> CompanyEmployee:
    values = dict(data)
    for key in ("hire_date", "termination_date"):
        if values.get(key):
            values[key] = dt.date.fromisoformat(values[key])
    values["custom"] = {k: dt.date.fromisoformat(v) if k in dates and v else v
                        for k, v in values.get("custom", {}).items()}
    return CompanyEmployee(**values)


def _default_lms(name: str, domain: str) -> dict[str, Any]:
    admin = f"lms-admin@{domain}"
    return {"root_name": name, "synced_group": "all", "connector_admin_email": admin,
            "owner_email": f"platform-owner@{domain}",
            "groups": [{"key": "all", "name": "All employees", "parent": "root"}],
            "users": [{"mail": admin, "kind": "connector_admin", "roles": [["root", "admin"]]}]}


def _encode(value: object) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"cannot write {type(value).__name__} to a company file")
