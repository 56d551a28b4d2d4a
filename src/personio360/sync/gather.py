"""The only I/O before apply: read both APIs and the store into a frozen Snapshot.

Reads are fresh every run (diff against live state, not against what was last written:
STYLE §7.4). Any failed or partial read raises, so a bad day upstream never becomes a
deletion (R13a): the caller turns the error into ``RunStopped``. Per-user reads (managers,
custom field values) are made only for linked users whose employee is in scope, in parallel
under the client's read limiter; they may still run after the lists are read (``Gathering``),
and a failure among them reaches whoever iterates them.

Pacing, not threads, bounds the speed: the Personio pages, the 360Learning lists and each
hierarchy's group roles are read side by side, and the per-user reads run on enough threads
(``READ_CONCURRENCY``) to keep 50 reads/s in flight at a few hundred ms of latency, so the
read limiter never idles while a read is waiting (issue 5, benchmarks/README.md).
"""

from __future__ import annotations

__all__ = [
    "READ_CONCURRENCY", "Gathering", "UserRead", "hierarchy_trees", "per_user", "read_completions",
    "read_completions_of", "start_gathering", "verify_connector_admin", "wanted_attributes",
]

import datetime as dt
import queue
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from types import TracebackType
from typing import TypeVar

from personio360.config import Settings
from personio360.domain import Completion, CustomValue, Employee, ExternalId, Group, Link, LmsUser
from personio360.errors import NotFound, RunStopped
from personio360.learning360 import Learning360Client
from personio360.personio import EmployeeSource
from personio360.store import Store
from personio360.sync.fields import clean_email
from personio360.sync.matching import mail_index
from personio360.sync.scope import in_scope
from personio360.sync.snapshot import Hierarchy, Snapshot
from personio360.sync.writeback import OVERLAP, item_key, read_since

ADMIN_ROLES = frozenset({"owner", "admin"})
#: Reads in flight at once: at 50 reads/s that covers up to 400 ms per call, and the
#: limiter, not this number, sets the pace (the client's pool has room for the writes too).
READ_CONCURRENCY = 20
#: The Personio attributes behind the default fields (R1 status, R2 id and email, R4, R9), and
#: the stamp R17 compares (an employee re-listed by the cursor's overlap, unchanged since).
_DEFAULT_FIELDS = ("id", "first_name", "last_name", "email", "status", "position", "supervisor",
                   "last_modified_at")
_T = TypeVar("_T")
_R = TypeVar("_R")
#: one user's read: (user id, managers, custom values or None when no field is synced)
UserRead = tuple[str, frozenset[str], tuple[CustomValue, ...] | None]
_END = object()


class Gathering:
    """One sync's reads: the lists, read whole (``snapshot``), and the per-user reads, still
    running in the background when ``start_gathering`` returns (``reads``).

    Why the split (issue 5): the lists decide most of a plan and are read in seconds; the two
    reads per user (R8, R9) take minutes at 50 reads/s. The caller can plan and write what the
    lists decide while those reads go on. ``close`` (or leaving the ``with``) stops them.
    """

    def __init__(self, pool: ThreadPoolExecutor, stop: threading.Event,
                 results: queue.Queue[object]) -> None:
        self._pool = pool
        self._stop = stop
        self._results = results
        self._done = False
        self.snapshot = Snapshot(taken_at=dt.datetime.now(dt.UTC), employees={}, users={}, links={})

    def reads(self) -> Iterator[UserRead]:
        """Each followed user's managers and values as they arrive; a failed read raises.

        Not kept here: ``sync`` plans each user from them and lets them go (100,000 users)."""
        while not self._done:
            item = self._results.get()
            if item is _END:
                self._done = True
                return
            if isinstance(item, BaseException):
                self._done = True
                raise item
            yield item  # type: ignore[misc]

    def complete(self) -> Snapshot:
        """The whole snapshot, once every per-user read has arrived (instead of ``reads``)."""
        managers: dict[str, frozenset[str]] = {}
        values: dict[str, tuple[CustomValue, ...]] = {}
        for user_id, user_managers, user_values in self.reads():
            managers[user_id] = user_managers
            if user_values is not None:
                values[user_id] = user_values
        return replace(self.snapshot, managers=managers, custom_values=values)

    def close(self) -> None:
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> Gathering:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def start_gathering(
    settings: Settings,
    personio: EmployeeSource,
    lms: Learning360Client,
    store: Store,
    *,
    workers: int = 8,
    users: Iterable[LmsUser] | None = None,
    groups: Iterable[Group] | None = None,
    focus: int | None = None,
) -> Gathering:
    """Read the lists whole and start the per-user reads; return once the lists are read
    (``Gathering.complete`` waits for the rest). ``users``/``groups`` may be passed when
    already read (R10).

    ``focus`` (``sync --employee``) limits the per-user reads to that employee's user: the
    lists are still read whole, since matching and duplicate emails (R2, R15) need them.
    """
    taken_at = dt.datetime.now(dt.UTC)
    platform = settings.learning360.external_id_platform
    employees: dict[int, Employee] = {}
    stop = threading.Event()
    # the per-user reads, the Personio pages and the driver of the reads, side by side
    pool = ThreadPoolExecutor(max_workers=max(workers, READ_CONCURRENCY) + 2, thread_name_prefix="gather")
    followed: queue.Queue[object] = queue.Queue()
    results: queue.Queue[object] = queue.Queue()
    gathering = Gathering(pool, stop, results)
    try:
        links = store.links.active()
        owned = {f.field_id: f.name for f in store.links.owned_fields()}
        users_read = pool.submit(lambda: {u.id: u for u in (
            users if users is not None else lms.iter_users())})
        mappings_read = pool.submit(lambda: {m.target_id: m for m in lms.iter_external_ids(
            platform=platform, target_type="user")})
        fields_read = pool.submit(lambda: tuple(lms.iter_custom_fields())
                                  if settings.custom_fields else ())
        completions_read = pool.submit(read_completions, settings, lms, store.writeback.all(), links) \
            if settings.writeback_on else None

        def read_employees() -> None:
            """Personio's pages, each employee's user queued for its reads as soon as it is read."""
            try:
                pages = _recording(personio.iter_employees(attributes=wanted_attributes(settings)),
                                   employees)
                for user_id in _followed(settings, pages, links, focus, users_read, mappings_read):
                    if stop.is_set():
                        return
                    followed.put(user_id)
            finally:
                followed.put(_END)

        def drive() -> None:
            """The per-user reads in a bounded window; each result (or the failure) queued."""
            read = partial(per_user, lms, values=bool(settings.custom_fields))
            try:
                for user_id, (managers, values) in _window(pool, read, _until_end(followed, stop)):
                    results.put((user_id, managers, values))
                results.put(_END)
            except BaseException as exc:  # handed to whoever iterates Gathering.reads
                results.put(exc)

        # the per-user reads start with the first Personio page, not after the lists
        employees_read = pool.submit(read_employees)
        pool.submit(drive)
        all_groups = list(groups if groups is not None else lms.iter_groups())
        hierarchies = _hierarchies(settings, all_groups, lms, pool)
        all_users, external_ids = users_read.result(), mappings_read.result()
        employees_read.result()
        custom_fields = fields_read.result()
        completions = completions_read.result() if completions_read is not None else {}
    except BaseException:
        gathering.close()  # a failed read: stop the others now
        raise
    gathering.snapshot = Snapshot(
        taken_at=taken_at, employees=employees, users=all_users, links=links,
        external_ids=external_ids, hierarchies=hierarchies, custom_fields=custom_fields,
        owned_fields=owned, completions=completions,
    )
    return gathering


#: ``userId[in]`` ids per request when reading the completions of newly linked users
_USERS_PER_READ = 50


def read_completions(settings: Settings, lms: Learning360Client, cursors: dict[str, dt.datetime],
                     links: dict[int, Link]) -> dict[str, tuple[Completion, ...]]:
    """R18: each configured item's completions since its cursor (``completedAt[gte]``: the
    pages follow the new completions, not the users), and every completion of the users
    linked since then (adopted with completions made before: ``userId[in]``, 50 a read).
    No cursor yet (a first run, a new item): every completion of the item."""
    assert settings.writeback is not None
    out: dict[str, tuple[Completion, ...]] = {}
    for item in settings.writeback.items:
        key = item_key(item)
        cursor = cursors.get(key)
        read = lms.iter_path_stats if item.kind == "path" else lms.iter_course_stats
        rows = list(read([item.item_id], completed_since=read_since(cursor)))
        if cursor is not None:
            newly = sorted({link.user_id for link in links.values()
                            if _utc(link.since) >= cursor - OVERLAP})
            for start in range(0, len(newly), _USERS_PER_READ):
                rows += read([item.item_id], user_ids=newly[start:start + _USERS_PER_READ])
        out[key] = tuple(dict.fromkeys(rows))
    return out


def read_completions_of(settings: Settings, lms: Learning360Client, cursors: dict[str, dt.datetime],
                        user_ids: Iterable[str]) -> dict[str, tuple[Completion, ...]]:
    """R18 in a changes run: the completions of the users whose completion events arrived,
    per configured item, 50 users a read (``userId[in]``, from the item's cursor on: what
    came before was written by an earlier run). Its cost follows the events, not the company."""
    assert settings.writeback is not None
    users = sorted(set(user_ids))
    out: dict[str, tuple[Completion, ...]] = {}
    for item in settings.writeback.items:
        key = item_key(item)
        read = lms.iter_path_stats if item.kind == "path" else lms.iter_course_stats
        rows: list[Completion] = []
        for start in range(0, len(users), _USERS_PER_READ):
            rows += read([item.item_id], completed_since=read_since(cursors.get(key)),
                         user_ids=users[start:start + _USERS_PER_READ])
        out[key] = tuple(dict.fromkeys(rows))
    return out


def _utc(moment: dt.datetime) -> dt.datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def wanted_attributes(settings: Settings) -> list[str]:
    """The attributes a sync reads (``attributes[]``, a projection: SPEC-v1): the default
    fields (R4) and what the config names (R1 filters, R7 levels, R8 fields). Personio
    sends some 30 attributes otherwise; a third of them makes pages smaller, faster to parse,
    and the snapshot of 100,000 employees a fraction of the memory."""
    return sorted({*_DEFAULT_FIELDS, *settings.attributes_named()})


def _recording(employees: Iterable[Employee], into: dict[int, Employee]) -> Iterator[Employee]:
    """Pass the employees on as they are read, keeping each in ``into``."""
    for emp in employees:
        into[emp.id] = emp
        yield emp


def _followed(
    settings: Settings,
    employees: Iterable[Employee],
    links: dict[int, Link],
    focus: int | None,
    users_read: Future[dict[str, LmsUser]],
    mappings_read: Future[dict[str, ExternalId]],
) -> Iterator[str]:
    """The users whose managers and custom values the plan may change: those linked to an
    in-scope employee, and those an unlinked in-scope employee will adopt (R2), whose
    existing values the PUT must keep (R8) and whose managers it must compare (R9).

    Each is yielded once. A linked user is yielded as soon as its employee is read (Personio's
    pages stream in), without waiting for the user list (20 pages for 10,000 users): it is
    checked against that list once the list has arrived (a deleted user is not read), and
    read anyway before (a user gone by then answers 404: nothing to read). The candidates of
    unlinked employees need the user list and the external ids: they come after the pages.
    """
    followed: set[str] = set()
    unlinked: list[Employee] = []
    users: dict[str, LmsUser] | None = None
    for emp in employees:
        if (focus is not None and emp.id != focus) or not in_scope(emp, settings.groups):
            continue
        link = links.get(emp.id)
        if link is None:
            unlinked.append(emp)
            continue
        if users is None and users_read.done():
            users = users_read.result()
        if (users is None or _readable(users, link.user_id)) and link.user_id not in followed:
            followed.add(link.user_id)
            yield link.user_id
    users = users_read.result()
    by_mail = mail_index(users)
    by_value = {m.value: m.target_id for m in mappings_read.result().values()}
    for emp in unlinked:
        email = clean_email(emp.email)
        candidate = by_value.get(str(emp.id)) or (by_mail.get(email) if email else None)
        if candidate is not None and _readable(users, candidate) and candidate not in followed:
            followed.add(candidate)
            yield candidate


def _readable(users: dict[str, LmsUser], user_id: str) -> bool:
    return user_id in users and users[user_id].status != "deleted"


def verify_connector_admin(settings: Settings, lms: Learning360Client, groups: list[Group]) -> LmsUser:
    """R10: the connector admin must be a platform owner or admin (owner/admin role on the root group)."""
    email = settings.learning360.connector_admin_email
    user = lms.find_user_by_mail(email)
    fix = ("give that user the platform admin role in 360Learning, or set "
           "learning360.connector_admin_email to a platform admin's email")
    if user is None or user.status == "deleted":
        raise RunStopped(f"the connector admin {email} is not a 360Learning user", hint=fix)
    roots = {g.id for g in groups if g.parent_id is None}
    roles = {r.role for r in lms.iter_user_roles(user.id) if r.group_id in roots}
    if not roles & ADMIN_ROLES:
        raise RunStopped(
            f"the connector admin {email} is not a platform owner or admin "
            f"(roles on the platform: {', '.join(sorted(roles)) or 'none'})", hint=fix)
    return user


def _hierarchies(settings: Settings, groups: list[Group], lms: Learning360Client,
                 pool: ThreadPoolExecutor) -> dict[str, Hierarchy]:
    """R7: each enabled synced group's subtree, and who is a learner where within it."""
    by_id = {g.id: g for g in groups}
    trees = hierarchy_trees(settings, groups)
    wanted = sorted({gid for kids in trees.values() for gid in kids})
    reads = {gid: pool.submit(_group_learners, lms, gid) for gid in wanted}
    out: dict[str, Hierarchy] = {}
    for synced_id, kids in trees.items():
        learners: dict[str, set[str]] = defaultdict(set)
        for gid in kids:
            for user_id in reads[gid].result():
                learners[user_id].add(gid)
        out[synced_id] = Hierarchy(top=by_id[synced_id], children=kids,
                                   learners={u: frozenset(g) for u, g in learners.items()})
    return out


def hierarchy_trees(settings: Settings, groups: list[Group]) -> dict[str, dict[str, tuple[Group, ...]]]:
    """R7: each enabled synced group's subtree (group id -> its children), checked: a synced
    group must exist, and none may lie inside another."""
    by_id = {g.id: g for g in groups}
    children: dict[str, list[Group]] = defaultdict(list)
    for g in groups:
        if g.parent_id:
            children[g.parent_id].append(g)
    trees: dict[str, dict[str, tuple[Group, ...]]] = {}
    for synced in settings.enabled_groups:
        top = by_id.get(synced.id)
        if top is None:
            raise RunStopped(
                f"the synced group {synced.id} does not exist in 360Learning",
                hint="correct the id in [[groups]] (personio360 check lists the problems), "
                "or set enabled = false for it",
            )
        kids: dict[str, tuple[Group, ...]] = {}
        stack = [top.id]
        while stack:
            gid = stack.pop()
            kids[gid] = tuple(sorted(children.get(gid, ()), key=lambda g: g.id))
            stack.extend(g.id for g in kids[gid])
        trees[synced.id] = kids
    for outer, kids in trees.items():
        for inner in trees:
            if inner != outer and inner in kids:
                raise RunStopped(
                    f"the synced group {inner} ({by_id[inner].name.strip()}) is inside the synced group "
                    f"{outer} ({by_id[outer].name.strip()}): each would undo the other's memberships (R7)",
                    hint="sync either the parent group or the subgroup, not both (disable one in [[groups]])",
                )
    return trees


def _group_learners(lms: Learning360Client, group_id: str) -> list[str]:
    """The learners of one group; a group deleted between the two reads has none left."""
    try:
        return [r.user_id for r in lms.iter_group_roles(group_id) if r.role == "learner"]
    except NotFound:
        return []


def per_user(
    lms: Learning360Client, user_id: str, *, values: bool
) -> tuple[frozenset[str], tuple[CustomValue, ...] | None]:
    """A user's managers (R9) and, when custom fields are synced, values (R8)."""
    managers = frozenset(_or_empty(lambda: list(lms.iter_managers(user_id))))
    return managers, tuple(_or_empty(lambda: lms.get_custom_values(user_id))) if values else None


def _window(
    pool: ThreadPoolExecutor, fn: Callable[[_T], _R], items: Iterable[_T]
) -> Iterator[tuple[_T, _R]]:
    """``pool.map`` with a bounded number of tasks queued, so memory stays flat in the
    number of users (100,000 employees: 100,000 tasks); (item, result) in input order."""
    pending: deque[tuple[_T, Future[_R]]] = deque()
    for item in items:
        pending.append((item, pool.submit(fn, item)))
        if len(pending) >= 10 * READ_CONCURRENCY:
            done, future = pending.popleft()
            yield done, future.result()
    while pending:
        done, future = pending.popleft()
        yield done, future.result()


def _until_end(items: queue.Queue[object], stop: threading.Event) -> Iterator[str]:
    """The queued user ids until the end mark (or a stop)."""
    while not stop.is_set():
        item = items.get()
        if item is _END:
            return
        yield item  # type: ignore[misc]


def _or_empty(read: Callable[[], list[_R]]) -> list[_R]:
    """A user deleted between the user list and this read has nothing left to read."""
    try:
        return read()
    except NotFound:
        return []
