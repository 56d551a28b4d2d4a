"""``[notify]`` in the config (issue 14): secrets only from the environment, every problem named
by its key and line; the admin page shows targets masked."""

from __future__ import annotations

from pathlib import Path
from secrets import token_hex

import pytest

from personio360.config import load_notify_urls
from personio360.errors import ConfigError
from personio360.notify.targets import mask

from .conftest import write_settings

#: secrets written into a URL, made per run (none is written in the repository)
IN_URLS = {"password": token_hex(7), "token": token_hex(6), "slack": token_hex(12), "hook": token_hex(8)}


@pytest.mark.parametrize("url", [
    f"mailtos://alerts:{IN_URLS['password']}@smtp.example.com",
    f"json://hooks.example.com/x?token={IN_URLS['token']}",
    f"slack://T1234ABCD/B1234ABCD/{IN_URLS['slack']}/#hr",
    f"https://hooks.slack.com/services/T000/B000/{IN_URLS['hook']}",
], ids=["mailtos", "json", "slack", "slack-hook"])  # fixed ids: pytest -n workers collect the same tests
def test_a_secret_written_in_a_url_is_refused_naming_the_key_and_line(tmp_path: Path, url: str) -> None:
    """The error names notify.urls[1] and its line, and never repeats the secret."""
    with pytest.raises(ConfigError) as caught:
        write_settings(tmp_path, f'[notify]\nurls = [\n  "json://127.0.0.1:9/ok",\n  "{url}",\n]\n')
    problems = caught.value.problems
    assert [p.key for p in problems] == ["notify.urls[1]"]
    assert problems[0].line is not None
    text = str(caught.value) + " ".join(p.message for p in problems)
    for secret in IN_URLS.values():
        assert secret not in text


def test_references_are_filled_from_the_environment_and_dotenv(tmp_path: Path) -> None:
    """${NAME} from the environment first, then .env beside the config; a password is percent-encoded."""
    (tmp_path / ".env").write_text("SLACK_TOKENS=T1/B2/C3\n", encoding="utf-8")
    settings = write_settings(tmp_path, '[notify]\nurls = ["mailtos://a:${SMTP_PASSWORD}@smtp.example.com", '
                                        '"slack://${SLACK_TOKENS}/#hr", "${WHOLE_URL}"]\n'
                                        'on = ["run_failed", "recovered"]\nremind_every = "6h"\n')
    targets = load_notify_urls(settings, {"SMTP_PASSWORD": "p@ss/word", "WHOLE_URL": "json://h/x"})
    assert [t.url.get_secret_value() for t in targets] == [
        "mailtos://a:p%40ss%2Fword@smtp.example.com", "slack://T1/B2/C3/#hr", "json://h/x"]
    assert settings.notify.on == ["run_failed", "recovered"]
    with pytest.raises(ConfigError, match=r"SMTP_PASSWORD \(notify.urls\[0\]\)"):
        load_notify_urls(settings, {"WHOLE_URL": "json://h/x"})


def test_unknown_event_and_bad_duration_are_named(tmp_path: Path) -> None:
    """on = ["typo"] and lag_after = "soon": both reported at once."""
    with pytest.raises(ConfigError) as caught:
        write_settings(tmp_path, '[notify]\non = ["typo"]\nlag_after = "soon"\n')
    assert sorted(p.key for p in caught.value.problems) == ["notify.lag_after", "notify.on[0]"]


def test_mask_shows_scheme_and_host_only() -> None:
    """Never a user, password, token or path."""
    assert mask("mailtos://alerts:${SMTP_PASSWORD}@smtp.example.com:587?to=x@example.com") == \
        "mailtos://smtp.example.com:587"
    assert mask("slack://${SLACK_TOKENS}/#hr") == "slack://…"
    assert mask("${WHOLE_URL}") == "(from the environment)"
    assert mask("json://127.0.0.1:8080/path/secret") == "json://127.0.0.1:8080"
