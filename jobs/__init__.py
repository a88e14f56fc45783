"""Background work: the job queue port and plain, idempotent job functions.

Filled by the media and reports issue; the package exists so the layer
contract (syncd > jobs > storage > protocol) holds from the start.
"""
