"""A GPT shape for any non-embedding parameter count, so a sweep can ask for sizes between presets.

IsoFLOP grids and forecasts need models at arbitrary N, not only the ten presets. The rule
follows the presets' ladder (``models.presets``): depth grows more slowly than width, the
aspect ratio d_model / n_layers rising from about 8 at 10k parameters to about 45 at 10m
(the presets range 5-43), heads about a quarter of the width wide, SwiGLU at 8/3 x d_model (within 25 %, to land on N).

    from models.shapes import gpt_shape
    shape = gpt_shape(3.0e5)   # {"d_model": 80, "n_layers": 4, "n_heads": 5, "d_ff": 208}
    GPTConfig(**shape).num_params  # 302_800: the nearest count this rule reaches (0.9 % over)
"""

from __future__ import annotations

import math

from models.presets import swiglu_width

MIN_PARAMS = 2_000
"""Smallest target: below this even a 2-layer, 16-wide model overshoots."""
ASPECT_AT_10K = 8.0
"""d_model / n_layers at 10k non-embedding parameters."""
ASPECT_EXPONENT = 0.25
"""The aspect ratio grows as N^0.25: 8 at 1e4, 14 at 1e5, 25 at 1e6, 45 at 1e7 (presets:
gpt-10k 5, gpt-500k 19, gpt-1m 26, gpt-10m 40)."""
MIN_LAYERS = 2
MIN_WIDTH = 16
DEPTH_PENALTY = 0.05
"""Log-miss a depth off the ladder must save to be chosen: keeps the aspect ratio smooth."""
FF_RANGE = (0.75, 1.25)
"""The MLP width may move this far from SwiGLU's 8/3 x d_model, in steps of 8, to land on the
target: below 1e5 parameters one width step of 8 moves the count by 30-40 %, so widths and
depths alone leave gaps that an IsoFLOP grid's evenly spaced sizes fall into (and collide in)."""
FF_PENALTY = 0.1
"""Log-miss per unit of log(d_ff / SwiGLU width): the standard MLP width wins near-ties."""


def aspect_ratio(params: float) -> float:
    """Target d_model / n_layers for a model of `params` non-embedding parameters."""
    return ASPECT_AT_10K * (params / 1e4) ** ASPECT_EXPONENT


def width_step(d_model: float) -> int:
    """Widths are multiples of this, so that heads of 8-64 features divide them."""
    return 8 if d_model < 128 else 16 if d_model < 256 else 32


def head_dim_for(d_model: int) -> int:
    """Head width: the power of two in [8, 64] nearest (in log) to d_model / 4 that divides
    d_model, as in the presets (gpt-1m: 128 wide, 4 heads of 32)."""
    target = min(6, max(3, round(math.log2(d_model / 4))))
    for exponent in range(target, 2, -1):
        if d_model % 2**exponent == 0:
            return 2**exponent
    raise ValueError(f"model.d_model {d_model} is not a multiple of 8")


def count(d_model: int, n_layers: int, d_ff: int | None = None) -> int:
    """Non-embedding parameters of a plain multi-head shape (the formula of
    ``GPTConfig.num_params``): per block Q, K, V, O (4d^2), SwiGLU (3 d d_ff) and two norms,
    plus the final norm. ``d_ff`` defaults to the SwiGLU width of ``d_model``."""
    d_ff = swiglu_width(d_model) if d_ff is None else d_ff
    return n_layers * (4 * d_model * d_model + 3 * d_model * d_ff + 2 * d_model) + d_model


def _ff_widths(d_model: int) -> list[int]:
    """MLP widths a shape may use: multiples of 8 within ``FF_RANGE`` of the SwiGLU width."""
    standard = swiglu_width(d_model)
    lo, hi = (math.ceil(standard * f / 8) * 8 for f in FF_RANGE)
    return sorted({standard, *range(lo, hi + 1, 8)})


def gpt_shape(params: float) -> dict[str, int]:
    """d_model, n_layers, n_heads and d_ff whose exact count is nearest `params`.

    Depth: round(d* / aspect) (at least 2), where d* = (N x aspect / 12)^(1/3) solves
    N = 12 L d^2 at the target aspect ratio. Width: among multiples of `width_step` at that
    depth and one layer either side, and MLP widths within 25 % of SwiGLU's, the shape whose
    exact count is nearest N in log; a neighbouring depth costs 0.05 and a non-standard MLP
    width 0.1 x |log(d_ff / SwiGLU width)| of log-miss, so shapes stay on the ladder.
    """
    if not math.isfinite(params) or params < MIN_PARAMS:
        raise ValueError(f"model.params must be >= {MIN_PARAMS:g}, got {params:g}")
    aspect = aspect_ratio(params)
    ideal_width = (params * aspect / 12) ** (1 / 3)
    depth = max(MIN_LAYERS, round(ideal_width / aspect))
    best: tuple[float, int, int, int] | None = None
    for n_layers in (depth, depth - 1, depth + 1):
        if n_layers < MIN_LAYERS:
            continue
        width = math.sqrt(params / (12 * n_layers))
        step = width_step(width)
        low = max(MIN_WIDTH, int(width // step) * step)
        for d_model in (low - step, low, low + step, low + 2 * step):
            if d_model < MIN_WIDTH:
                continue
            d_model = d_model // width_step(d_model) * width_step(d_model)
            standard = swiglu_width(d_model)
            for d_ff in _ff_widths(d_model):
                miss = abs(math.log(count(d_model, n_layers, d_ff) / params))
                score = miss + (DEPTH_PENALTY if n_layers != depth else 0.0)
                score += FF_PENALTY * abs(math.log(d_ff / standard))
                if best is None or score < best[0]:
                    best = (score, d_model, n_layers, d_ff)
    assert best is not None  # depth >= MIN_LAYERS always yields candidates
    _, d_model, n_layers, d_ff = best
    return {
        "d_model": d_model,
        "n_layers": n_layers,
        "n_heads": d_model // head_dim_for(d_model),
        "d_ff": d_ff,
    }


def shape_label(params: float) -> str:
    """Readable name of a derived size, e.g. ``gpt-n300k`` (n: sized by count, not a preset)."""
    for unit, scale in (("g", 1e9), ("m", 1e6), ("k", 1e3)):
        if params >= scale:
            return f"gpt-n{params / scale:.3g}{unit}"
    return f"gpt-n{params:.3g}"
