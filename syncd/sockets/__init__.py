"""The WebSocket kit of /sync/ws and /sync/yjs: close codes (close.py), the
upgrade's origin and token (auth.py), the socket caps (caps.py) and the
owned-socket skeleton (owned.py). It imports neither endpoint."""
