"""Creating users for demos and simulations, through the public API.

An admin invites each user (`POST /users/invite`) and the invitation is
accepted at once with a chosen password (`POST /auth/accept-invite`). Outside
production the invite's answer carries the raw token; a production server
mails it instead, so this only works against development and test servers.
"""

from __future__ import annotations

from dataclasses import dataclass

from syncd_client.errors import SyncClientError
from syncd_client.transport import Transport


@dataclass(frozen=True, slots=True)
class Member:
    """A user made for a simulation, with what a device needs to sign in."""

    user_id: str
    email: str
    password: str
    role: str


class ProvisioningUnavailable(SyncClientError):
    """The server does not hand out invitation tokens (a production server)."""


async def admin_token(transport: Transport, email: str, password: str) -> str:
    """Sign the admin in; answers the access token."""
    pair = await transport.request(
        "POST", "/auth/login", json_body={"email": email, "password": password}
    )
    return str(pair["access_token"])


async def add_member(
    transport: Transport, token: str, email: str, role: str, password: str, name: str = ""
) -> Member:
    """Invite a user and accept the invitation with `password`."""
    invited = await transport.request(
        "POST",
        "/users/invite",
        token=token,
        json_body={"email": email, "role": role, "display_name": name or email.split("@")[0]},
    )
    invite_token = invited.get("invite_token")
    if not invite_token:
        raise ProvisioningUnavailable(
            "the server did not answer the invitation's token (production?); "
            "create the users by invitation and sign them in instead"
        )
    await transport.request(
        "POST", "/auth/accept-invite", json_body={"token": invite_token, "password": password}
    )
    return Member(str(invited["user"]["id"]), email, password, role)
