"""Media: what complete (and, on the local store, the upload) refuses, and how
declarations are validated and retried.

moto accepts any body for a presigned PUT, so for S3 a file larger than declared
or of another type is caught by `complete` re-checking the stored object; the
local store refuses it at upload already.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from protocol.roles import Role
from syncd.settings import Settings
from tests.support.factories import make_tenant, signed_in
from tests.support.media import declare, declared, new_task, photo, problem, send

Sessions = async_sessionmaker[AsyncSession]


def is_local(settings: Settings) -> bool:
    return settings.s3_bucket is None


async def test_complete_before_upload_is_upload_missing(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    answer = await declared(client, admin, photo(), owner_id=str(await new_task(client, admin)))
    response = await client.post(f"/media/{answer['media_id']}/complete", headers=admin.headers)
    await problem(response, 422, "upload_missing")
    await problem(
        await client.get(f"/media/{answer['media_id']}/content", headers=admin.headers),
        409,
        "media_not_uploaded",
    )


async def test_a_larger_file_than_declared_is_refused_and_can_be_retried(
    client: Any, sessions: Sessions, settings: Settings
) -> None:
    admin = await signed_in(client, sessions)
    data = photo()
    fields = {"owner_id": str(await new_task(client, admin)), "media_id": str(uuid.uuid4())}
    answer = await declared(client, admin, data, **fields)
    media_id = answer["media_id"]
    bigger = data + b"\0" * 100
    sent = await send(client, answer["upload"], bigger)
    complete = f"/media/{media_id}/complete"
    if is_local(settings):
        await problem(sent, 413, "upload_too_large")
        await problem(await client.post(complete, headers=admin.headers), 422, "upload_missing")
    else:  # moto stores it; complete re-checks the stored object
        assert sent.status == 200
        body = await problem(
            await client.post(complete, headers=admin.headers), 422, "size_mismatch"
        )
        assert (body["declared_size"], body["uploaded_size"]) == (len(data), len(bigger))
    # Nothing was lost: the device asks again (same id, same terms) and uploads the right file.
    retry = await declare(client, admin, data, **fields)
    assert retry.status == 200, await retry.text()
    resent = await send(client, (await retry.json())["upload"], data)
    assert resent.status == 200
    done = await client.post(complete, headers=admin.headers)
    assert (await done.json())["status"] == "uploaded"


async def test_a_file_of_another_type_is_refused(
    client: Any, sessions: Sessions, settings: Settings
) -> None:
    admin = await signed_in(client, sessions)
    task = str(await new_task(client, admin))
    jpeg = photo()
    answer = await declared(client, admin, jpeg, content_type="image/png", owner_id=task)
    complete = f"/media/{answer['media_id']}/complete"
    if is_local(settings):  # another Content-Type than signed: refused at the door
        await problem(
            await send(client, answer["upload"], jpeg, "image/jpeg"), 403, "signature_invalid"
        )
    sent = await send(client, answer["upload"], jpeg)  # sent as image/png, but is a JPEG
    assert sent.status == 200
    body = await problem(await client.post(complete, headers=admin.headers), 422, "type_mismatch")
    assert (body["declared_type"], body["detected_type"]) == ("image/png", "image/jpeg")
    garbage = b"not an image at all, just text " * 10
    other = await declared(client, admin, garbage, owner_id=task)
    assert (await send(client, other["upload"], garbage)).status == 200
    await problem(
        await client.post(f"/media/{other['media_id']}/complete", headers=admin.headers),
        422,
        "type_mismatch",
    )


async def test_a_wrong_checksum_is_refused(client: Any, sessions: Sessions) -> None:
    admin = await signed_in(client, sessions)
    data = photo()
    wrong = hashlib.sha256(b"something else").hexdigest()
    answer = await declared(
        client, admin, data, owner_id=str(await new_task(client, admin)), sha256=wrong
    )
    assert (await send(client, answer["upload"], data)).status == 200
    response = await client.post(f"/media/{answer['media_id']}/complete", headers=admin.headers)
    await problem(response, 422, "checksum_mismatch")
    media = await (await client.get(f"/media/{answer['media_id']}", headers=admin.headers)).json()
    assert media["status"] == "pending"


async def test_declarations_are_validated(
    client: Any, sessions: Sessions, settings: Settings
) -> None:
    admin = await signed_in(client, sessions)
    task = str(await new_task(client, admin))
    data = photo()
    for fields, code in [
        ({"content_type": "text/html"}, "validation_failed"),
        ({"size": 0}, "validation_failed"),
        ({"sha256": "abc"}, "validation_failed"),
        ({"owner_type": "user"}, "validation_failed"),
        ({"owner_id": None}, "validation_failed"),
        ({"media_id": "not-a-uuid"}, "validation_failed"),
        ({"extra": 1}, "validation_failed"),
    ]:
        response = await declare(client, admin, data, **{"owner_id": task, **fields})
        await problem(response, 422, code)
    too_big = settings.max_upload_bytes + 1
    await problem(
        await declare(client, admin, data, owner_id=task, size=too_big), 413, "upload_too_large"
    )
    await problem(
        await declare(client, admin, data, owner_id=str(uuid.uuid4())), 422, "unknown_owner"
    )
    await problem(
        await declare(client, admin, data, owner_type="tenant", owner_id=str(uuid.uuid4())),
        422,
        "unknown_owner",
    )


async def test_redeclaring_is_a_retry_only_for_its_creator_and_terms(
    client: Any, sessions: Sessions
) -> None:
    tenant = await make_tenant(sessions)
    admin = await signed_in(client, sessions, Role.ADMIN, tenant)
    staff = await signed_in(client, sessions, Role.STAFF, tenant)
    task = str(await new_task(client, admin))
    data = photo()
    fields = {"media_id": str(uuid.uuid4()), "owner_id": task}
    first = await declared(client, admin, data, **fields)
    retry = await declare(client, admin, data, **fields)
    assert retry.status == 200
    assert (await retry.json())["media_id"] == first["media_id"]
    await problem(await declare(client, staff, data, **fields), 409, "media_id_taken")
    await problem(await declare(client, admin, data + b"x", **fields), 409, "media_mismatch")
    await problem(
        await declare(client, admin, data, **fields, content_type="image/png"),
        409,
        "media_mismatch",
    )
    assert (await send(client, first["upload"], data)).status == 200
    await client.post(f"/media/{first['media_id']}/complete", headers=admin.headers)
    await problem(await declare(client, admin, data, **fields), 409, "media_already_uploaded")
