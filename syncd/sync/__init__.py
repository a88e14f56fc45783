"""Sync: the one write path (service), cursors, and the HTTP routes of the protocol."""
