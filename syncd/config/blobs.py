"""Settings: blob stores, media uploads and job sheets.

The local directory or S3 bucket blobs live in, signed URLs and their
lifetime, upload sizes and cleanup, the PDF engine.
Each name is the environment variable; `syncd.settings.Settings` declares
the field it fills, in the order of docs/operations.md.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

S3_ENDPOINT_URL = Field(
    None,
    validation_alias="S3_ENDPOINT_URL",
    description="Blob store (S3): an S3-compatible endpoint (MinIO).",
)
S3_BUCKET = Field(
    None,
    validation_alias="S3_BUCKET",
    description=("Blob store (S3): when set, blobs live in this bucket (else under `BLOB_DIR`)."),
)
S3_REGION = Field(
    "us-east-1",
    validation_alias="S3_REGION",
    description="Blob store (S3): the bucket's region.",
)
S3_ACCESS_KEY_ID = Field(
    None,
    validation_alias="S3_ACCESS_KEY_ID",
    description=("Blob store (S3): the access key ID; unset: boto3's default credential chain."),
)
S3_SECRET_ACCESS_KEY = Field(
    None,
    validation_alias="S3_SECRET_ACCESS_KEY",
    description="Blob store (S3): the secret access key.",
    repr=False,
)
BLOB_DIR = Field(
    None,
    validation_alias="BLOB_DIR",
    description=(
        "Directory of the local blob store (tenant logos, media, thumbnails; see "
        "*Where data lives*)."
    ),
)
S3_UPLOAD_METHOD: Literal["put", "post"] = Field(
    "put",
    validation_alias="S3_UPLOAD_METHOD",
    description=(
        "Media uploads to S3: `put` (presigned PUT signing `Content-Type` and "
        "`Content-Length`) or `post` (presigned form with "
        "`content-length-range`)."
    ),
)
BLOB_URL_TTL_SECONDS = Field(
    900,
    ge=30,
    le=604_800,
    validation_alias="BLOB_URL_TTL_SECONDS",
    description=(
        "Lifetime of signed upload and download URLs (local HMAC-signed or S3 presigned)."
    ),
)
UPLOAD_CLEANUP_AFTER_SECONDS = Field(
    86_400,
    ge=600,
    le=30 * 86_400,
    validation_alias="UPLOAD_CLEANUP_AFTER_SECONDS",
    description=(
        "Cleanup job: a media upload still pending this long after it was declared is removed."
    ),
)
PDF_ENGINE = Field(
    "fpdf2",
    pattern=r"^fpdf2$",
    validation_alias="PDF_ENGINE",
    description="Engine that renders PDF job sheets (jobs/job_sheets.py).",
)
MAX_UPLOAD_BYTES = Field(
    25 * 1_048_576,
    ge=1024,
    validation_alias="MAX_UPLOAD_BYTES",
    description=(
        "Media uploads: `POST /media/uploads` refuses a larger `size` (413 `upload_too_large`)."
    ),
)
MAX_LOGO_BYTES = Field(
    1_048_576,
    ge=1024,
    validation_alias="MAX_LOGO_BYTES",
    description=("Tenant logo upload: largest logo (413 `logo_too_large` beyond)."),
)
