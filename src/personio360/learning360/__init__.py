"""The 360Learning API v2 client: ``auth`` (token flow), ``wire`` (payloads), ``client``."""

from __future__ import annotations

__all__ = ["Learning360Client", "map_status"]

from personio360.learning360.client import Learning360Client
from personio360.learning360.status import map_status
