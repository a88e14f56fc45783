"""Tenants: the platform operator's CRUD, a tenant's own settings and logo, founding."""
