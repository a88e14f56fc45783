"""Administration: the audit trail (written by every feature, read by admins), the jobs."""
