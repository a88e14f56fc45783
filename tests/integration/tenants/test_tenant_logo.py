"""Tenants: the logo under /tenant/logo: upload, read, replace, delete, the image
checks and limits, permissions, and invisibility to another tenant.
"""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from protocol.roles import Role
from syncd.app import create_app
from syncd.settings import Settings
from tests.support.factories import make_tenant, signed_in
from tests.support.services import make_settings
from tests.support.tenants import (
    Sessions,
    audit_entries,
    image_bytes,
    logo_files,
    problem,
    put_logo,
)


@pytest.mark.parametrize(("fmt", "content_type"), [("PNG", "image/png"), ("WEBP", "image/webp")])
async def test_logo_upload_read_replace_delete(
    client: Any, sessions: Sessions, settings: Settings, fmt: str, content_type: str
) -> None:
    admin = await signed_in(client, sessions)
    tag = (await client.get("/tenant", headers=admin.headers)).headers["ETag"]
    data = image_bytes(fmt)
    response = await put_logo(client, admin, data, content_type)
    assert response.status == 200, await response.text()
    logo_url = (await response.json())["branding"]["logo_url"]
    assert logo_url.startswith("/tenant/logo?v=")
    assert response.headers["ETag"] != tag
    technician = await signed_in(client, sessions, Role.TECHNICIAN, admin.tenant)
    got = await client.get(logo_url, headers=technician.headers)
    assert got.status == 200
    assert got.headers["Content-Type"] == content_type
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    assert got.headers["X-Request-ID"]
    assert await got.read() == data
    head = await client.head(logo_url, headers=technician.headers)
    assert (head.status, head.headers["Content-Length"]) == (200, str(len(data)))
    assert await head.read() == b""
    [first_file] = logo_files(settings, admin.tenant.id)

    jpeg = image_bytes("JPEG", (40, 40))
    replaced = await put_logo(client, admin, jpeg, "image/jpeg")
    assert replaced.status == 200
    got = await client.get("/tenant/logo", headers=admin.headers)
    assert (got.headers["Content-Type"], await got.read()) == ("image/jpeg", jpeg)
    assert first_file not in logo_files(settings, admin.tenant.id)  # the old one is gone
    assert len(logo_files(settings, admin.tenant.id)) == 1

    deleted = await client.delete("/tenant/logo", headers=admin.headers)
    assert deleted.status == 204
    assert logo_files(settings, admin.tenant.id) == []
    await problem(await client.get("/tenant/logo", headers=admin.headers), 404, "logo_not_found")
    await problem(await client.delete("/tenant/logo", headers=admin.headers), 404, "logo_not_found")
    assert (await (await client.get("/tenant", headers=admin.headers)).json())["branding"][
        "logo_url"
    ] is None
    entries = await audit_entries(sessions, admin.tenant.id)
    logo_entries = [e for e in entries if e.action.startswith("tenant_logo")]
    assert [e.action for e in logo_entries] == [
        "tenant_logo_updated",
        "tenant_logo_updated",
        "tenant_logo_deleted",
    ]
    assert logo_entries[0].details == {
        "content_type": content_type,
        "size": len(data),
        "width": 24,
        "height": 12,
    }


@pytest.mark.parametrize(
    ("content_type", "data", "status", "code"),
    [
        ("text/plain", b"hello", 415, "unsupported_media_type"),
        ("image/gif", b"GIF89a", 415, "unsupported_media_type"),
        ("application/octet-stream", b"\x89PNG", 415, "unsupported_media_type"),
        ("image/png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 200, 422, "invalid_image"),
        ("image/png", b"", 422, "invalid_image"),
        ("image/png", image_bytes("PNG")[:-30], 422, "invalid_image"),
        ("image/jpeg", image_bytes("PNG"), 422, "invalid_image"),
        ("image/webp", b"RIFF\x10\x00\x00\x00WEBPVP8 garbage", 422, "invalid_image"),
    ],
)
async def test_logo_refuses_what_is_not_the_declared_image(
    client: Any,
    sessions: Sessions,
    settings: Settings,
    content_type: str,
    data: bytes,
    status: int,
    code: str,
) -> None:
    admin = await signed_in(client, sessions)
    good = image_bytes("PNG")
    assert (await put_logo(client, admin, good, "image/png")).status == 200
    await problem(await put_logo(client, admin, data, content_type), status, code)
    got = await client.get("/tenant/logo", headers=admin.headers)
    assert await got.read() == good  # the current logo is untouched
    assert len(logo_files(settings, admin.tenant.id)) == 1
    actions = [e.action for e in await audit_entries(sessions, admin.tenant.id)]
    assert actions.count("tenant_logo_updated") == 1


async def test_logo_with_too_many_pixels_is_refused(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    buffer = io.BytesIO()
    Image.new("L", (5000, 4000), 0).save(buffer, format="PNG")  # small file, 20 Mpx
    response = await put_logo(client, admin, buffer.getvalue(), "image/png")
    body = await problem(response, 422, "invalid_image")
    assert "pixels" in body["detail"]


async def test_a_logo_whose_file_vanished_is_404(
    client: Any, sessions: Sessions, settings: Settings
) -> None:
    admin = await signed_in(client, sessions)
    assert (await put_logo(client, admin, image_bytes(), "image/png")).status == 200
    folder = settings.blob_root / "tenants" / str(admin.tenant.id) / "branding"
    for file in folder.iterdir():
        file.unlink()
    await problem(await client.get("/tenant/logo", headers=admin.headers), 404, "logo_not_found")
    assert (await client.delete("/tenant/logo", headers=admin.headers)).status == 204


async def test_logo_larger_than_the_limit_is_413(
    database_url: str, tmp_path: Path, aiohttp_client: Any, sessions: Sessions
) -> None:
    settings = make_settings(tmp_path, DATABASE_URL=database_url, MAX_LOGO_BYTES="4096")
    client = await aiohttp_client(create_app(settings))
    admin = await signed_in(client, sessions)
    big = image_bytes("PNG", (64, 64), noise=True)
    assert len(big) > 4096
    await problem(await put_logo(client, admin, big, "image/png"), 413, "logo_too_large")

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: caught while streaming
        for start in range(0, len(big), 1000):
            yield big[start : start + 1000]

    await problem(await put_logo(client, admin, chunked(), "image/png"), 413, "logo_too_large")
    assert logo_files(settings, admin.tenant.id) == []
    small = image_bytes("PNG")
    assert (await put_logo(client, admin, small, "image/png")).status == 200


async def test_logo_needs_manage_to_change_and_read_to_see(client: Any, sessions: Sessions) -> None:
    tenant = await make_tenant(sessions)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    await problem(
        await put_logo(client, staff, image_bytes(), "image/png"), 403, "permission_denied"
    )
    await problem(
        await client.delete("/tenant/logo", headers=staff.headers), 403, "permission_denied"
    )
    await problem(await client.get("/tenant/logo", headers=staff.headers), 404, "logo_not_found")
    await problem(
        await client.get("/tenant/logo", headers={"X-Tenant": tenant.slug}), 401, "token_missing"
    )


async def test_a_tenants_logo_is_invisible_to_another_tenant(
    client: Any, sessions: Sessions, settings: Settings
) -> None:
    alice = await signed_in(client, sessions)
    bob = await signed_in(client, sessions)
    data = image_bytes()
    assert (await put_logo(client, alice, data, "image/png")).status == 200
    await problem(await client.get("/tenant/logo", headers=bob.headers), 404, "logo_not_found")
    crossing = {**bob.headers, "X-Tenant": alice.tenant.slug}
    await problem(await client.get("/tenant/logo", headers=crossing), 403, "tenant_mismatch")
    await problem(await client.delete("/tenant/logo", headers=crossing), 403, "tenant_mismatch")
    await problem(await client.delete("/tenant/logo", headers=bob.headers), 404, "logo_not_found")
    other = image_bytes("PNG", (8, 8))
    response = await client.put(
        "/tenant/logo", data=other, headers={**crossing, "Content-Type": "image/png"}
    )
    await problem(response, 403, "tenant_mismatch")
    # Bob's own upload lands in Bob's tenant only.
    assert (await put_logo(client, bob, other, "image/png")).status == 200
    got = await client.get("/tenant/logo", headers=alice.headers)
    assert await got.read() == data
    assert len(logo_files(settings, alice.tenant.id)) == 1
    actions = [e.action for e in await audit_entries(sessions, alice.tenant.id)]
    assert actions.count("tenant_logo_updated") == 1
