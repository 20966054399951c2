"""How a sweep's own results are fitted: its YAML's `analysis:` section.

The sweep writes it into its folder's spec.yaml, so every fit of the folder reads the same: the
fit command, the forecast stage's fit, the live page's, the dry-run's expected precision
(``AnalysisConfig.with_sweep_settings``) and the proposer of the next runs, whose sweep
carries it on. A flag given to the fit command wins over it. It is not part of the folder's
identity: no trial depends on it.

    settings = SweepFitSettings.of_spec(read_spec(folder))
    settings.approach3_min_tokens_per_param    # 10.0, or None: every point
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field, ValidationError

from contract.config import FROZEN
from contract.errors import validation_line


class SweepFitSettings(BaseModel):
    """The `analysis:` section of a sweep YAML."""

    model_config = FROZEN

    approach3_min_tokens_per_param: float | None = Field(default=None, ge=0)
    """Approach 3 (L(N, D)) fits only the points trained on at least this many tokens per
    parameter (``AnalysisConfig.approach3_min_tokens_per_param``); None: every point."""

    @classmethod
    def of_spec(cls, spec: dict[str, Any] | None) -> SweepFitSettings:
        """The settings of a resolved spec (spec.yaml as a dict); the defaults when it has
        none. A hand-edited section that does not validate is a ValueError naming it."""
        section = (spec or {}).get("analysis") or {}
        try:
            return cls.model_validate(section)
        except ValidationError as err:
            raise ValueError(f"spec.yaml: {validation_line(err, prefix='analysis.')}") from None
