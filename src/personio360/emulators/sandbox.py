"""Both emulators serving one generated company, plus a ready config: for the demo, tests, benchmarks.

``Sandbox`` starts the Personio and 360Learning emulators on free loopback ports, installs a
seeded company into them, and writes a ``personio360.toml`` and a ``.env`` (the emulators'
own, public test credentials) into a directory, so that every command runs exactly as it
would against the real services.
"""

from __future__ import annotations

__all__ = ["Sandbox"]

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from personio360.emulators import personio as personio_emulator
from personio360.emulators.company import InstalledCompany, generate_company, install, learning360_state_for
from personio360.emulators.learning360 import Learning360Emulator
from personio360.emulators.personio import PersonioEmulator
from personio360.emulators.server import RunningServer


class Sandbox:
    """A generated company served by both emulators, with a config file in ``directory``."""

    def __init__(
        self,
        directory: Path,
        *,
        size: int = 300,
        seed: int = 7,
        rate_limits: bool = True,
        rate_limit_factor: float = 1.0,
        token_ttl: float | None = None,
        environment: str = "test",
        levels: tuple[str, ...] = ("office", "department"),
        custom_fields: dict[str, str] | None = None,
        extra_toml: str = "",
        personio_options: Mapping[str, Any] | None = None,
        lms_options: Mapping[str, Any] | None = None,
    ) -> None:
        """``personio_options`` / ``lms_options``: further emulator arguments (``client_id``,
        ``client_secret``, ``token_ttl``, ``scopes``...), e.g. distinctive credentials."""
        self.directory = Path(directory)
        self.company = generate_company(size, seed)
        self._personio_secret = str((personio_options or {}).get(
            "client_secret", personio_emulator.DEFAULT_CLIENT_SECRET))
        self._personio_write_secret = str((personio_options or {}).get(
            "write_client_secret", personio_emulator.DEFAULT_WRITE_CLIENT_SECRET))
        self.personio = PersonioEmulator(rate_limits=rate_limits, rate_limit_factor=rate_limit_factor,
                                         seed=seed, **(personio_options or {}))
        lms_kwargs: dict[str, Any] = {"rate_limits": rate_limits, "rate_limit_factor": rate_limit_factor,
                                      "seed": seed, "state": learning360_state_for(self.company, seed=seed)}
        if token_ttl is not None:
            lms_kwargs["token_ttl"] = token_ttl
        lms_kwargs.update(lms_options or {})
        self.lms = Learning360Emulator(**lms_kwargs)
        self.installed: InstalledCompany = install(self.company, self.personio.state, self.lms.state)
        self.environment = environment
        self.levels = levels
        self.custom_fields = custom_fields if custom_fields is not None else {
            "department": "Department",
            self.installed.attribute_keys.get("T-shirt size", "dynamic_1000001"): "T-shirt size",
        }
        self.extra_toml = extra_toml
        self.personio_url = ""
        self.lms_url = ""
        #: the client-side pacing factor matching the emulators' limits (none: no pacing)
        self.client_rate_factor = rate_limit_factor if rate_limits else 1000.0

    _personio_server: RunningServer

    def start(self) -> Sandbox:
        self._personio_server = self.personio.serve()
        self.personio_url = self._personio_server.url
        self.lms_url = self.lms.serve().url
        self.write_config()
        return self

    def stop(self) -> None:
        self._personio_server.stop()
        self.personio.close()  # its webhook deliveries
        self.lms.stop()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def config_path(self) -> Path:
        return self.directory / "personio360.toml"

    @property
    def environ(self) -> dict[str, str]:
        """The credentials the emulators accept, as the environment would hold them."""
        return {
            "PERSONIO_CLIENT_ID": self.personio.client_id,
            "PERSONIO_CLIENT_SECRET": self._personio_secret,
            "PERSONIO_WRITE_CLIENT_ID": self.personio.write_client_id,
            "PERSONIO_WRITE_CLIENT_SECRET": self._personio_write_secret,
            "LEARNING360_CLIENT_ID": self.lms.client_id,
            "LEARNING360_CLIENT_SECRET": self.lms.client_secret,
        }

    def write_config(self) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        levels = ", ".join(f'"{level}"' for level in self.levels)
        fields = "\n".join(f'{key} = "{name}"' for key, name in self.custom_fields.items())
        db = (self.directory / f"personio360-{self.environment}.db").as_posix()
        self.config_path.write_text(
            f'''# Written by personio360's sandbox: both emulators on loopback, a generated company.
environment = "{self.environment}"

[personio]
base_url = "{self.personio_url}"

[learning360]
base_url = "{self.lms_url}"
connector_admin_email = "{self.installed.connector_admin_email}"

[[groups]]
id = "{self.installed.synced_group_id}"
enabled = true

[group_structure]
levels = [{levels}]

[custom_fields]
{fields}

[state]
url = "sqlite:///{db}"
{self.extra_toml}''',
            encoding="utf-8",
        )
        env = "\n".join(f"{k}={v}" for k, v in self.environ.items())
        (self.directory / ".env").write_text(env + "\n", encoding="utf-8")
        return self.config_path
