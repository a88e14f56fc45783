"""The settings' variables by concern, each with its default, bounds and meaning.

`syncd.settings.Settings` is the one model that reads them (validated once,
frozen); these modules only declare them: `server` (process, database,
Redis, HTTP edge, logs, metrics), `blobs`, `sync` (the sync service and its
sockets), `limits` (fair limits), `accounts` (tokens, logins, console,
invitations, password recovery) and `mail`.
"""
