"""A preregistered forecast and its score: the record the analysis writes before a run, and the
ledger row written after it.

The analysis writes `forecast.json` (never overwritten: it is the preregistration), `sweeps.new
--forecast` and a pipeline's forecast stage read it to launch the run, and scoring appends one
row to `forecasts.csv` at the storage root. All three import these names, so the file a fit
writes is the file a launcher reads.

    forecast = Forecast.from_json(path.read_text())
    forecast.shape["d_model"], forecast.loss.lo95, forecast.hyperparameters["optim.lr"]
    row = score_row(forecast, realised_loss=2.31, scored_at="2026-11-29T17:00:00")
"""

from __future__ import annotations

import json
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

FORECAST_FILE = "forecast.json"
"""Written next to the fit's other outputs, before the run it predicts; never overwritten."""
LEDGER_FILE = "forecasts.csv"
"""At the storage root: one row per scored forecast."""
LEDGER_COLUMNS: tuple[str, ...] = (
    "forecast_id",
    "source",
    "target_flops",
    "chosen",
    "n_star",
    "d_star",
    "shape",
    "predicted_loss",
    "lo80",
    "hi80",
    "lo95",
    "hi95",
    "realised_loss",
    "error_pct",
    "inside80",
    "inside95",
    "best_of_budget",
    "rows_hash",
    "commit",
    "created",
    "scored_at",
    "run",
)


@dataclass(frozen=True)
class Interval:
    """A point value with its central 80 % and 95 % intervals."""

    value: float
    lo80: float
    hi80: float
    lo95: float
    hi95: float

    def contains(self, x: float, level: int) -> bool:
        lo, hi = (self.lo80, self.hi80) if level == 80 else (self.lo95, self.hi95)
        return lo <= x <= hi


@dataclass(frozen=True)
class Forecast:
    """What a fit predicts for a run nobody has trained yet, written before it runs."""

    forecast_id: str
    """Short hash of the target and the fitted rows: the forecast's identity."""
    source: str
    """The sweep folder (or table) the fit read."""
    metric: str
    target_flops: float
    """Training FLOPs of the forecast run (contract.compute's definition)."""
    chosen: str
    """Which estimate set N* and D*: "frontier" or "approach3"."""
    reason: str
    """Why that one (one line, for the report)."""
    n_star: Interval
    d_star: Interval
    loss: Interval
    """Predicted final loss of the run at (N*, D*)."""
    shape: dict[str, int]
    """Model shape for N*: d_model, n_layers, n_heads, d_ff, and its exact params."""
    hyperparameters: dict[str, Any]
    """Dotted-path settings for the run (e.g. optim.lr), from fitted rules or the sweep's own."""
    provenance: dict[str, str]
    """rows_hash, commit, created (ISO time), versions."""
    alternatives: dict[str, Any] = field(default_factory=dict)
    """The estimates not chosen, for the report (e.g. Approach 3's N* when the frontier won)."""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=False)

    @classmethod
    def from_json(cls, text: str) -> Forecast:
        """Parse forecast.json; a ValueError says what is wrong in words a user can act on
        (not JSON, which key is missing or of the wrong kind)."""
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"not JSON ({err.msg} at line {err.lineno})") from None
        if not isinstance(raw, dict):
            raise ValueError("not a JSON object")
        required = [
            f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
        ]
        missing = [k for k in required if k not in raw]
        if missing:
            raise ValueError(f"missing key {missing[0]!r}")
        for key in ("n_star", "d_star", "loss"):
            try:
                raw[key] = Interval(**raw[key])
            except TypeError:
                raise ValueError(f"{key}: expected value, lo80, hi80, lo95, hi95") from None
        try:
            return cls(**raw)
        except TypeError as err:
            raise ValueError(str(err).replace("__init__() ", "")) from None


def score_row(
    forecast: Forecast,
    realised_loss: float,
    scored_at: str,
    run: str = "",
    best_of_budget: bool | None = None,
    shape: dict[str, int] | None = None,
) -> dict[str, Any]:
    """The ledger row of a forecast scored against its run's realised final loss.

    ``shape`` is the shape the run really had (the launcher derives it from N*); it replaces
    ``forecast.shape``, which a forecast written where the shape rule is not importable leaves
    empty. Keys it lacks are left out of the ledger's shape text.
    """
    loss = forecast.loss
    shape = shape if shape is not None else forecast.shape
    return {
        "forecast_id": forecast.forecast_id,
        "source": forecast.source,
        "target_flops": forecast.target_flops,
        "chosen": forecast.chosen,
        "n_star": forecast.n_star.value,
        "d_star": forecast.d_star.value,
        "shape": " ".join(
            f"{k}={shape[k]}"
            for k in ("d_model", "n_layers", "n_heads", "d_ff", "params")
            if k in shape
        ),
        "predicted_loss": loss.value,
        "lo80": loss.lo80,
        "hi80": loss.hi80,
        "lo95": loss.lo95,
        "hi95": loss.hi95,
        "realised_loss": realised_loss,
        "error_pct": 100.0 * (realised_loss - loss.value) / loss.value,
        "inside80": loss.contains(realised_loss, 80),
        "inside95": loss.contains(realised_loss, 95),
        "best_of_budget": "" if best_of_budget is None else best_of_budget,
        "rows_hash": forecast.provenance.get("rows_hash", ""),
        "commit": forecast.provenance.get("commit", ""),
        "created": forecast.provenance.get("created", ""),
        "scored_at": scored_at,
        "run": run,
    }


def read_forecast(path: str | Path, flag: str) -> Forecast:
    """A forecast.json as a launcher or a scorer reads it: a ValueError names the flag that gave
    the file and says in words what is wrong with it, so every reader fails the same way."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{flag}: {path}: no such forecast file")
    try:
        return Forecast.from_json(path.read_text(encoding="utf-8"))
    except (ValueError, TypeError, KeyError) as err:
        raise ValueError(f"{flag}: {path}: not a forecast ({err})") from None
