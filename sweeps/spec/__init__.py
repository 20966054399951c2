"""The sweep YAML as typed data: loading, strict YAML, the search space, trackers, the schema."""
