"""The sweep folder: identity and lock, the result tables, what is left to run."""
