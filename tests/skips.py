"""Saying at the end of ``make test`` which tests did not run for want of something, and why.

A conftest skips a whole folder's tests with a reason under its own prefix (``browser tests
skipped: ...``); its ``pytest_terminal_summary`` calls :func:`say_skipped`. The reason is read
from the skip reports, not from the conftest's memory: with ``pytest -n`` the tests run in
worker processes and only their reports reach the process that prints the summary.
"""

from __future__ import annotations

from typing import Any


def say_skipped(terminalreporter: Any, prefix: str, title: str, line: str) -> None:
    """Print ``title`` and ``line`` (``{reason}`` filled in) if a test was skipped under ``prefix``."""
    said = [str(report.longrepr[2]).removeprefix("Skipped: ")
            for report in terminalreporter.stats.get("skipped", []) if isinstance(report.longrepr, tuple)]
    reasons = [reason.removeprefix(prefix) for reason in said if reason.startswith(prefix)]
    if reasons:
        terminalreporter.write_sep("=", title, yellow=True)
        terminalreporter.write_line(line.format(reason=reasons[0]))
