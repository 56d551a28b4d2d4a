"""The 360Learning client's user calls against the emulator over loopback HTTP."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from personio360.domain import NewUser, UserChanges
from personio360.emulators.learning360 import Learning360Emulator
from personio360.errors import NotFound, Rejected
from personio360.learning360 import Learning360Client

MakeClient = Callable[..., Learning360Client]
MakeEmulator = Callable[..., Learning360Emulator]


def _seed_users(emulator: Learning360Emulator, count: int) -> None:
    for n in range(count):
        emulator.state.add_user(f"user{n:04d}@example.com", f"First{n}", f"Last{n}")


def test_iter_users_follows_links_across_pages(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """More than two pages of 500 users are all read, each once, lazily."""
    _seed_users(emulator, 1_203)
    users = client.iter_users()
    first = next(users)
    assert first.id == emulator.state.owner_id
    rest = list(users)
    ids = [first.id, *(u.id for u in rest)]
    assert len(ids) == 1_204
    assert len(set(ids)) == len(ids)
    assert emulator.stats.by_endpoint["GET /api/v2/users"] == 3


def test_iter_users_follows_absolute_links(
    make_emulator: MakeEmulator, make_client: MakeClient
) -> None:
    """An absolute Link URL is followed as well as a relative one."""
    emu = make_emulator(absolute_links=True)
    _seed_users(emu, 600)
    client = make_client(emu.url)
    assert len(list(client.iter_users())) == 601


def test_iter_users_filters_by_status(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """``status`` is sent as ``status[eq]`` and only matching users come back."""
    emulator.state.add_user("gone@example.com", status="deleted")
    emulator.state.add_user("new@example.com", status="invited")
    assert [u.mail for u in client.iter_users(status="deleted")] == ["gone@example.com"]
    assert [u.mail for u in client.iter_users(status="invited")] == ["new@example.com"]


def test_find_user_by_mail_ignores_case_and_spaces(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """The lookup matches a user whatever the case and surrounding spaces of the mail."""
    seeded = emulator.state.add_user("jane.doe@example.com", "Jane", "Doe")
    found = client.find_user_by_mail("  Jane.Doe@Example.com ")
    assert found is not None
    assert found.id == seeded.id
    assert client.find_user_by_mail("nobody@example.com") is None


def test_get_user_returns_the_domain_user(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """A user comes back with its fields under the domain's names."""
    seeded = emulator.state.add_user("a@example.com", "Ada", "Lovelace", job="Engineer")
    user = client.get_user(seeded.id)
    assert (user.mail, user.first_name, user.last_name, user.job, user.status) == (
        "a@example.com", "Ada", "Lovelace", "Engineer", "active")


def test_get_user_unknown_is_not_found(client: Learning360Client) -> None:
    """An unknown id is a NotFound carrying the API's code."""
    with pytest.raises(NotFound) as caught:
        client.get_user("0123456789abcdef01234567")
    assert caught.value.code == "userNotFound"


def test_create_user_with_membership_and_no_invitation(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """A created user is invited, a learner of its group, and gets no email when told so."""
    group = emulator.state.add_group("Sales")
    new = NewUser(mail="new@example.com", group_id=group.id, first_name="New", last_name="Hire",
                  job="Seller")
    user, restored = client.create_user(new, send_invitation_email=False)
    assert not restored
    assert user.status == "invited"
    assert emulator.state.user_by_mail("new@example.com") == user
    assert [(r.group_id, r.role) for r in emulator.state.roles_of_user(user.id)] == [
        (group.id, "learner")]
    assert emulator.state.outbox == []


def test_create_user_sends_the_invitation_when_asked(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """``send_invitation_email=True`` lets 360Learning send its invitation."""
    new = NewUser(mail="invite@example.com", group_id=emulator.state.root_group_id)
    user, _ = client.create_user(new, send_invitation_email=True)
    assert [m["to"] for m in emulator.state.outbox] == ["invite@example.com"]
    assert user.first_name is None


def test_create_user_with_a_deleted_users_mail_restores_it(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """Creating with the mail of a deleted user restores that account (200): restored=True."""
    old = emulator.state.add_user("back@example.com", "Back", "Again")
    client.delete_user(old.id)
    new = NewUser(mail="back@example.com", group_id=emulator.state.root_group_id)
    user, restored = client.create_user(new, send_invitation_email=False)
    assert restored
    assert user.id == old.id
    assert user.status == "invited"


def test_create_user_with_a_used_mail_is_rejected(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """A live user's mail is a Rejected with the API's code and message."""
    emulator.state.add_user("taken@example.com")
    new = NewUser(mail="taken@example.com", group_id=emulator.state.root_group_id)
    with pytest.raises(Rejected) as caught:
        client.create_user(new, send_invitation_email=False)
    assert caught.value.code == "mailAlreadyUsed"
    assert "already used" in caught.value.message


def test_update_user_sets_and_clears_fields(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """Only the fields set are changed; ``CLEAR`` empties a field."""
    seeded = emulator.state.add_user("u@example.com", "Old", "Name", job="Clerk")
    user = client.update_user(seeded.id, UserChanges(first_name="New", job=UserChanges.CLEAR))
    assert (user.first_name, user.last_name, user.job) == ("New", "Name", None)
    assert emulator.state.user(seeded.id).job is None


def test_update_user_changes_the_mail_of_the_same_account(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """A mail change keeps the account (same id)."""
    seeded = emulator.state.add_user("before@example.com")
    user = client.update_user(seeded.id, UserChanges(mail="after@example.com"))
    assert user.id == seeded.id
    assert client.find_user_by_mail("after@example.com") == user


def test_update_user_schedules_deactivation(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """``to_be_deactivated_at`` is sent as ``toBeDeactivatedAt``."""
    seeded = emulator.state.add_user("leaving@example.com")
    user = client.update_user(seeded.id,
                              UserChanges(to_be_deactivated_at="2099-01-01T00:00:00.000Z"))
    assert user.to_be_deactivated_at is not None
    assert user.to_be_deactivated_at.startswith("2099-01-01")


def test_delete_user_is_a_soft_delete(
    emulator: Learning360Emulator, client: Learning360Client
) -> None:
    """A deleted user stays readable with status ``deleted``."""
    seeded = emulator.state.add_user("bye@example.com")
    client.delete_user(seeded.id)
    assert client.get_user(seeded.id).status == "deleted"


def test_delete_owner_is_rejected(emulator: Learning360Emulator,
                                  client: Learning360Client) -> None:
    """The company owner cannot be deleted: Rejected ``userIsCompanyOwner``."""
    with pytest.raises(Rejected) as caught:
        client.delete_user(emulator.state.owner_id)
    assert caught.value.code == "userIsCompanyOwner"


def test_activate_user(emulator: Learning360Emulator, client: Learning360Client) -> None:
    """An invited user becomes active."""
    seeded = emulator.state.add_user("inv@example.com", status="invited")
    assert client.activate_user(seeded.id).status == "active"
    assert emulator.state.user(seeded.id).status == "active"
