"""R12 end to end: welcome emails only in `production`, and one state store per environment."""

from __future__ import annotations

from typing import TYPE_CHECKING

from personio360.sync.run import run_sync

from .world import config_text, write_config

if TYPE_CHECKING:
    from .conftest import MakeEnv, SyncEnv

SMALL = {"size": 30, "seed": 3}


def created_mails(env: SyncEnv) -> list[str]:
    return sorted((env.user_of(i).mail or "").lower()
                  for i, link in env.links().items() if link.origin == "created")


def test_r12_the_test_environment_sends_no_welcome_email(make_env: MakeEnv) -> None:
    """In `test`, creating users (first sync, a new hire, a rehire) puts nothing in the outbox."""
    env = make_env(**SMALL)
    env.sync()
    rehire = next(i for i, link in env.links().items() if link.origin == "created")
    env.personio.terminate(rehire)
    env.sync()
    env.personio.update(rehire, status="active", termination_date=None)
    env.personio.hire(first_name="Tove", last_name="Ek", email="tove.ek@newco.example",
                      office="Berlin", department="Sales")

    report = env.sync()

    assert report.applied.get("create_user") == 2
    assert created_mails(env)
    assert env.lms.outbox == []


def test_r12_production_sends_one_welcome_email_per_new_user(make_env: MakeEnv) -> None:
    """In `production`, each created user gets exactly one invitation; adopted users get none."""
    env = make_env(environment="production", **SMALL)

    env.sync()

    invited = sorted(mail["to"].strip().lower() for mail in env.lms.outbox)
    assert invited == created_mails(env)
    assert {m["kind"] for m in env.lms.outbox} == {"invitation"}
    adopted = {(env.user_of(i).mail or "").lower() for i, link in env.links().items()
               if link.origin == "adopted"}
    assert adopted
    assert not adopted & set(invited)
    new_id = env.personio.hire(first_name="Tove", last_name="Ek", email="tove.ek@newco.example",
                               office="Berlin", department="Sales")

    env.sync()
    env.sync()

    after = [mail["to"] for mail in env.lms.outbox]
    assert len(after) == len(invited) + 1
    assert after[-1] == "tove.ek@newco.example"
    assert env.lms.outbox[-1]["user_id"] == env.user_id_of(new_id)


def test_r12_each_environment_has_its_own_state_store(make_env: MakeEnv) -> None:
    """A test and a production config side by side: links and runs of one never show in the other."""
    env = make_env(**SMALL)
    side = env.sb.directory / "side-by-side"
    test = write_config(side, config_text(env, environment="test", state_url=None), "test.toml")
    prod = write_config(side, config_text(env, environment="production", state_url=None),
                        "production.toml")
    assert test.state_url != prod.state_url
    users_before = len(env.lms.users())

    with env.open(settings=test) as ctx:
        run_sync(test, ctx.personio, ctx.lms, ctx.store, bulk_poll_interval=0.01)
        test_links = ctx.store.links.active()
    assert test_links
    with env.open(settings=prod) as ctx:
        assert ctx.store.links.active() == {}
        assert ctx.store.runs.count() == 0
        run_sync(prod, ctx.personio, ctx.lms, ctx.store, bulk_poll_interval=0.01)
        prod_links = ctx.store.links.active()
        assert [r.environment for r in ctx.store.runs.recent()] == ["production"]
    with env.open(settings=test) as ctx:
        assert ctx.store.links.active() == test_links
        assert [r.environment for r in ctx.store.runs.recent()] == ["test"]

    # production found the test run's users through their external ids: no copies, no emails
    assert {i: link.user_id for i, link in prod_links.items()} == {
        i: link.user_id for i, link in test_links.items()}
    assert {link.origin for link in prod_links.values()} <= {"relinked", "adopted"}
    created = sum(link.origin == "created" for link in test_links.values())
    assert len(env.lms.users()) == users_before + created
    assert env.lms.outbox == []
