"""Media tests run over both blob stores: the local store (syncd's own signed URLs)
and S3 (moto's server), and both databases; `settings` is parametrised here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from storage.s3_blobs import S3BlobStore
from syncd.settings import Settings
from syncd.wiring import blob_store
from tests.support.services import make_settings, s3_settings


@pytest.fixture(params=["local", "s3"])
async def settings(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Settings:
    if request.param == "local":
        return make_settings(tmp_path, DATABASE_URL=database_url)
    made = s3_settings(tmp_path, request.getfixturevalue("s3_endpoint"), DATABASE_URL=database_url)
    store = blob_store(made)
    assert isinstance(store, S3BlobStore)
    await store.ensure_bucket()
    return made
