"""Roles a user of a tenant can hold."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    STAFF = "staff"
    TECHNICIAN = "technician"
