"""Fixtures shared by the end-to-end tests (real processes)."""

from tests.e2e.sync.test_crash import server_env

__all__ = ["server_env"]
