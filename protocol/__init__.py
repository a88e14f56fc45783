"""Pure rules of syncd: wire types, clocks, merge and the task lifecycle.

Nothing here does I/O or imports the other packages, so a client SDK can reuse
it as is (import-linter enforces this; see setup.cfg).
"""
