"""Fixtures shared by the end-to-end tests (real processes)."""

from tests.support.processes import server_env

__all__ = ["server_env"]
