"""Watching a sweep: progress state, the terminal view, the live page and its server."""
