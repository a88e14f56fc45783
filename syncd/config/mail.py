"""Settings: mail and the demo tenant's admin.

The SMTP server and sender, and the admin `seed` and `up` make.
Each name is the environment variable; `syncd.settings.Settings` declares
the field it fills, in the order of docs/operations.md.
"""

from __future__ import annotations

from pydantic import Field

SMTP_URL = Field(
    None,
    validation_alias="SMTP_URL",
    description=(
        "Mail server (user and password in the URL if it wants them); without it,"
        " mail stays `pending` in the outbox (see *Mail*)."
    ),
)
MAIL_FROM = Field(
    "syncd <no-reply@localhost>",
    validation_alias="MAIL_FROM",
    description="Mail: sender address (`From` header).",
)
SYNCD_SEED_ADMIN_EMAIL = Field(
    None,
    validation_alias="SYNCD_SEED_ADMIN_EMAIL",
    description="`seed`, `up`: email of the demo tenant's admin, lower-cased.",
)
SYNCD_SEED_ADMIN_PASSWORD = Field(
    None,
    validation_alias="SYNCD_SEED_ADMIN_PASSWORD",
    description="`seed`, `up`: password of the demo tenant's admin.",
    repr=False,
)
