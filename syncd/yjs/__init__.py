"""Collaborative text over Yjs: rooms, the y-websocket endpoint, the push hook."""
