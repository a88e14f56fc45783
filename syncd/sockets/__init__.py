"""The WebSocket kit: the token a socket offers, the origin check, the close codes."""
