"""The one model config of every typed config in the project: frozen, unknown keys refused.

A sweep's configs travel between processes and are hashed into trial identities, so none may
change after validation; a misspelt key in a YAML must be an error, never a silent default.

    class OptimConfig(BaseModel):
        model_config = FROZEN
"""

from __future__ import annotations

from pydantic import ConfigDict

FROZEN = ConfigDict(frozen=True, extra="forbid")
"""Frozen and strict: what every config class's ``model_config`` is, unless it says why not."""
