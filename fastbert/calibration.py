"""Per-layer temperature calibration and the speed -> speedup / accuracy curve of a model.

Each classifier's logits are divided by its own temperature T (fitted by minimising the
negative log-likelihood on a calibration set), so that a layer's confidence matches how often
it is right; the uncertainty that decides the exits is computed from these probabilities.
The curve records, on the same set, the FLOPs speedup and the accuracy (or agreement with the
teacher) at every speed of a fine grid, so that a user can ask for a speedup or an accuracy
cost instead of a raw threshold (`FastBert.predict(texts, target_speedup=3.0)`).

Everything here works on probabilities computed without temperatures: log p = z - logsumexp(z)
is the logits z shifted per sample, and softmax ignores a shift, so softmax(log p / T) ==
softmax(z / T). One all-layers pass serves the fit, the ECE before and after, and both curves.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Sequence

import torch

CURVE_FILE = "calibration.json"
CURVE_FORMAT = "fastbert-calibration-curve"
SPEED_GRID = [round(0.01 * i, 2) for i in range(101)]
ECE_BINS = 15


class CurveError(ValueError):
    """A calibration-curve file that is missing, unreadable or not a curve."""


# ----- temperatures ------------------------------------------------------------------------------
def _log_probs(probs: torch.Tensor) -> torch.Tensor:
    # The smallest positive float keeps log finite where float32 rounded a probability to 0.
    return probs.double().clamp_min(torch.finfo(torch.float64).tiny).log()


def apply_temperatures(layer_probs: torch.Tensor, temperatures: Sequence[float] | None) -> torch.Tensor:
    """(L, N, C) uncalibrated probabilities -> softmax(log p / T_layer), same shape and dtype.

    >>> apply_temperatures(torch.tensor([[[0.2, 0.8]]]), [1.0]).tolist()
    [[[0.2, 0.8]]]
    """
    if temperatures is None:
        return layer_probs
    t = torch.tensor(temperatures, dtype=torch.float64).view(-1, *([1] * (layer_probs.dim() - 1)))
    return (_log_probs(layer_probs) / t).softmax(-1).to(layer_probs.dtype)


def fit_temperature(logits: torch.Tensor, targets: torch.Tensor, bounds=(0.05, 20.0)) -> float:
    """The T > 0 that minimises the NLL of softmax(logits / T) for `targets` (N,), N x C logits.

    The NLL is convex in 1/T, so L-BFGS on log T from T = 1 finds the one minimum; the result is
    clipped to `bounds` (a layer that is always right would otherwise drive T to 0).
    """
    z = logits.double().detach()
    y = targets.long()
    log_t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=1.0, max_iter=100, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(z / log_t.exp(), y)
        loss.backward()
        return loss

    opt.step(closure)
    return float(min(max(math.exp(log_t.item()), bounds[0]), bounds[1]))


def fit_temperatures(layer_probs: torch.Tensor, targets: torch.Tensor, fit_last: bool = True) -> list[float]:
    """One temperature per layer from uncalibrated (L, N, C) probabilities.

    fit_last=False keeps the teacher's T = 1 (when the targets are the teacher's own labels,
    its NLL has no minimum)."""
    L = layer_probs.size(0)
    temps = [fit_temperature(_log_probs(layer_probs[i]), targets) for i in range(L if fit_last else L - 1)]
    return temps + ([] if fit_last else [1.0])


# ----- calibration error -------------------------------------------------------------------------
@dataclass
class Reliability:
    """Per confidence bin: mean confidence, accuracy (None when empty) and count."""

    edges: list[float]
    confidence: list[float | None]
    accuracy: list[float | None]
    counts: list[int]

    @property
    def ece(self) -> float:
        """Expected calibration error: sum over bins of n_b / N * |accuracy_b - confidence_b|."""
        n = sum(self.counts)
        return sum(c / n * abs(a - f) for a, f, c in zip(self.accuracy, self.confidence, self.counts) if c) if n else 0.0


def reliability(probs: torch.Tensor, targets: torch.Tensor, bins: int = ECE_BINS) -> Reliability:
    """Reliability of (N, C) probabilities against targets, in `bins` equal-width bins of the
    maximum probability (the first bin is closed on the left)."""
    conf, pred = probs.double().max(-1)
    right = (pred == targets).double()
    idx = (conf * bins).ceil().long().clamp(1, bins) - 1
    counts = torch.bincount(idx, minlength=bins)
    conf_sum = torch.zeros(bins, dtype=torch.float64).index_add_(0, idx, conf)
    right_sum = torch.zeros(bins, dtype=torch.float64).index_add_(0, idx, right)
    c = counts.tolist()
    return Reliability([i / bins for i in range(bins + 1)],
                       [s / n if n else None for s, n in zip(conf_sum.tolist(), c)],
                       [s / n if n else None for s, n in zip(right_sum.tolist(), c)], c)


def layer_ece(layer_probs: torch.Tensor, targets: torch.Tensor, bins: int = ECE_BINS) -> list[float]:
    """ECE of every layer of (L, N, C) probabilities."""
    return [reliability(p, targets, bins).ece for p in layer_probs]


# ----- the curve ---------------------------------------------------------------------------------
@dataclass
class CurvePoint:
    speed: float
    speedup: float  # FLOPs speedup on the calibration set
    accuracy: float  # accuracy, or agreement with the teacher (see Curve.metric)


@dataclass
class Curve:
    """Speed -> FLOPs speedup and accuracy, measured on a calibration set.

    metric: "accuracy" (against labels) or "agreement" (with the teacher's labels);
    full_accuracy: the same metric for the teacher (every layer), the reference of an
    accuracy drop; calibrated: whether the exits used the model's temperatures; data: where it
    was measured (path, sha256 of the file, rows used).
    """

    points: list[CurvePoint]
    full_accuracy: float
    metric: str = "accuracy"
    calibrated: bool = True
    data: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.points:
            raise CurveError("a calibration curve needs at least one point")
        if self.metric not in ("accuracy", "agreement"):
            raise CurveError(f"metric: 'accuracy' or 'agreement', got {self.metric!r}")
        self.points = sorted(self.points, key=lambda p: p.speed)

    def for_speedup(self, target: float) -> CurvePoint:
        """The point whose speedup is closest to `target` (the lowest speed among ties).

        Speedup never decreases with speed, so the chosen speed never decreases with the target.
        """
        if not target > 0:
            raise ValueError(f"target_speedup must be positive, got {target}")
        return min(self.points, key=lambda p: (abs(p.speedup - target), p.speed))

    def for_accuracy_drop(self, points: float) -> CurvePoint:
        """The fastest point that loses at most `points` (percentage points) against the full
        model; speed 0 when none does."""
        if not points >= 0:
            raise ValueError(f"target_accuracy_drop must be at least 0 points, got {points}")
        ok = [p for p in self.points if 100.0 * (self.full_accuracy - p.accuracy) <= points + 1e-9]
        return max(ok, key=lambda p: (p.speedup, -p.speed)) if ok else self.points[0]

    def at_speed(self, speed: float) -> CurvePoint:
        """The grid point nearest to `speed`."""
        return min(self.points, key=lambda p: (abs(p.speed - speed), p.speed))

    def accuracy_drop(self, point: CurvePoint) -> float:
        """Percentage points lost at `point` against the full model."""
        return 100.0 * (self.full_accuracy - point.accuracy)

    def to_dict(self) -> dict:
        return {"format": CURVE_FORMAT, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> "Curve":
        if data.get("format") != CURVE_FORMAT:
            raise CurveError(f"format is {data.get('format')!r}, expected {CURVE_FORMAT!r}")
        body = {k: v for k, v in data.items() if k != "format"}
        return cls(**{**body, "points": [CurvePoint(**p) for p in body.get("points", [])]})


def build_curve(model, outputs, speeds: Sequence[float] = SPEED_GRID, data: dict | None = None,
                calibrated: bool = True) -> Curve:
    """The curve of `model` from its all-layers `outputs` (an `evaluate.LayerOutputs`, with the
    probabilities the exits should see). Without labels the teacher's predictions are the
    reference (metric "agreement")."""
    from .evaluate import LayerOutputs, sweep

    metric = "accuracy" if outputs.labels is not None else "agreement"
    if outputs.labels is None:
        outputs = LayerOutputs(outputs.layer_probs, outputs.num_tokens, outputs.layer_probs[-1].argmax(-1))
    results = sweep(model, outputs, list(speeds))
    points = [CurvePoint(r.speed, r.flops_speedup, r.accuracy) for r in results]
    # The reference is the teacher alone (every layer run).
    teacher_acc = (outputs.layer_probs[-1].argmax(-1) == outputs.labels).double().mean().item()
    return Curve(points, teacher_acc, metric, calibrated, data or {})


# ----- files -------------------------------------------------------------------------------------
def file_sha256(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def save_curve(curve: Curve, path: str | Path) -> None:
    Path(path).write_text(json.dumps(curve.to_dict(), indent=1) + "\n")


def load_curve(path: str | Path) -> Curve:
    """Read a curve file; a missing, unreadable or malformed file is a `CurveError` naming it."""
    path = Path(path)
    if not path.is_file():
        raise CurveError(f"{path}: calibration curve file is missing (the model's config.json names it)")
    try:
        return Curve.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, UnicodeDecodeError, TypeError, KeyError, AttributeError, CurveError) as err:
        raise CurveError(f"{path}: not a valid calibration curve ({type(err).__name__}: {err})") from err
