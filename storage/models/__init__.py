"""Every table of syncd, importable from one place (alembic reads Base.metadata)."""

from storage.models.accounts import OutboxMail, PasswordReset, UserInvite
from storage.models.base import Base, TenantScoped, tenant_tables
from storage.models.finance import Purchase, Receipt
from storage.models.media import MediaAsset, Report
from storage.models.sync import (
    ChangeLogEntry,
    Conflict,
    PushBatch,
    SyncRejection,
    YDoc,
    YDocUpdate,
)
from storage.models.tasks import Task, TaskAssignment, TaskEvent
from storage.models.tenancy import (
    AuditEntry,
    Device,
    RefreshToken,
    Tenant,
    TenantVersion,
    User,
)

__all__ = [
    "AuditEntry",
    "Base",
    "ChangeLogEntry",
    "Conflict",
    "Device",
    "MediaAsset",
    "OutboxMail",
    "PasswordReset",
    "Purchase",
    "PushBatch",
    "Receipt",
    "RefreshToken",
    "Report",
    "SyncRejection",
    "Task",
    "TaskAssignment",
    "TaskEvent",
    "Tenant",
    "TenantScoped",
    "TenantVersion",
    "User",
    "UserInvite",
    "YDoc",
    "YDocUpdate",
    "tenant_tables",
]
