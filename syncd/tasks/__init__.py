"""Tasks over REST: listing, CRUD, assignment, lifecycle actions, timeline."""
