"""Authentication (JWT access + rotating refresh tokens) and authorisation (policies)."""
