"""Which environment syncd runs in (`SYNCD_ENV`)."""

from __future__ import annotations

from enum import StrEnum


class Environment(StrEnum):
    DEV = "dev"
    TEST = "test"
    PRODUCTION = "production"
