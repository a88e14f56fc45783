"""Job sheets that cannot be stored, for the tests of failed and retried jobs."""

from __future__ import annotations

import uuid
from pathlib import Path

from syncd.settings import Settings


def block_reports(settings: Settings, tenant_id: uuid.UUID) -> Path:
    """A file where the tenant's reports folder goes: storing a PDF fails (as root too)."""
    blocker = settings.blob_root / "tenants" / str(tenant_id) / "reports"
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_bytes(b"in the way")
    return blocker
