"""Users over REST: the directory, invitations, roles, passwords and their recovery."""
