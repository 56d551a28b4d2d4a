"""``personio360 emulate``: serve one emulator with a company until interrupted (SPEC §5)."""

from __future__ import annotations

__all__ = ["serve_forever"]

import signal
import threading
from collections.abc import Callable
from functools import partial
from types import ModuleType
from typing import Any

from personio360.emulators import learning360, personio
from personio360.emulators.company import (
    Company,
    generate_company,
    install,
    learning360_state_for,
    load_company,
)
from personio360.emulators.personio.state import PersonioState
from personio360.emulators.server import serve_in_thread
from personio360.errors import ConfigError


def serve_forever(
    service: str,
    *,
    port: int = 0,
    company_file: str | None = None,
    size: int = 200,
    seed: int = 1,
    client_id: str | None = None,
    client_secret: str | None = None,
    rate_limits: bool = True,
    time_scale: float = 1.0,
    echo: Callable[[str], None] = print,
) -> int:
    """Serve ``service`` on 127.0.0.1:``port``; print its URL and credentials; stop on Ctrl-C/SIGTERM.

    ``time_scale`` compresses webhook retry delays (1.0 = the vendors' real schedules).
    Both emulators given the same company (file, or size and seed) hold matching data, so a
    ``personio`` and a ``360learning`` process started side by side form one company.
    """
    company: Company = load_company(company_file) if company_file else generate_company(size, seed)
    lms_state = learning360_state_for(company, seed=seed)
    people = PersonioState()
    installed = install(company, people, lms_state)
    module: ModuleType
    if service == "personio":
        module, prefix = personio, "PERSONIO"
        factory: Callable[..., Any] = partial(personio.PersonioEmulator, state=people)
    else:
        module, prefix = learning360, "LEARNING360"
        factory = partial(learning360.Learning360Emulator, state=lms_state)
    cid = client_id or module.DEFAULT_CLIENT_ID
    emulator = factory(client_id=cid, client_secret=client_secret or module.DEFAULT_CLIENT_SECRET,
                       rate_limits=rate_limits, seed=seed, time_scale=time_scale)
    secret_shown = "(as given)" if client_secret else module.DEFAULT_CLIENT_SECRET
    try:
        server = serve_in_thread(emulator.app, port=port)
    except OSError as exc:
        raise ConfigError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}",
                          hint="choose another --port, or 0 for a free one") from None
    echo(f"{service} emulator serving {company.name} ({len(company.employees)} employees) at {server.url}")
    echo(f"  {prefix}_CLIENT_ID={cid}")
    echo(f"  {prefix}_CLIENT_SECRET={secret_shown}")
    if service == "360learning":
        echo(f"  synced group id: {installed.synced_group_id}")
        echo(f"  connector admin: {installed.connector_admin_email}")
    echo("Press Ctrl-C to stop.")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        if service == "personio":
            emulator.close()  # its webhook deliveries
        else:
            emulator.stop()
    return 0
