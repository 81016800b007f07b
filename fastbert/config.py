"""Typed, self-validating configuration of a FastBERT model."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

EXIT_CRITERIA = ("entropy", "max_prob", "patience")


@dataclass
class FastBertConfig:
    """Everything needed to rebuild a FastBERT model around a backbone.

    Example:
        >>> cfg = FastBertConfig(backbone="bert-base-uncased", labels=["neg", "pos"])
        >>> cfg.num_labels
        2
    """

    backbone: str
    labels: list[str] = field(default_factory=lambda: ["0", "1"])
    classifier_width: int = 128
    classifier_heads: int = 2
    max_length: int = 128
    exit_criterion: str = "entropy"
    patience: int | None = None  # only for exit_criterion="patience"; None derives it from speed
    # The backbone's own config (a dict) once the model was built, so that a saved directory
    # can be rebuilt without the original backbone being reachable.
    backbone_config: dict | None = None
    # One temperature per layer's classifier (calibration, `python -m fastbert calibrate`);
    # None: uncalibrated, the paper's probabilities. calibration_curve: the file, in the model
    # directory, holding the speed -> speedup / accuracy curve (loaded strictly when named).
    temperatures: list[float] | None = None
    calibration_curve: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.backbone, str) or not self.backbone.strip():
            raise ValueError("backbone: give a Hugging Face model id or a local directory")
        # A string is a sequence too: "np" must not become ["n", "p"].
        if not isinstance(self.labels, (list, tuple)) or not all(isinstance(x, str) for x in self.labels):
            raise ValueError(f"labels: a list of label names (strings), got {self.labels!r}")
        self.labels = list(self.labels)
        if len(self.labels) < 2:
            raise ValueError(f"labels: need at least 2 classes, got {self.labels!r}")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"labels: names must be unique, got {self.labels!r}")
        for name in ("classifier_width", "classifier_heads", "max_length", "patience"):
            value = getattr(self, name)
            if not (_is_int(value) or (name == "patience" and value is None)):
                raise ValueError(f"{name}: must be an integer, got {value!r}")
        if self.classifier_width <= 0:
            raise ValueError(f"classifier_width: must be positive, got {self.classifier_width}")
        if self.classifier_heads <= 0 or self.classifier_width % self.classifier_heads:
            raise ValueError(
                f"classifier_heads: must divide classifier_width={self.classifier_width}, "
                f"got {self.classifier_heads}"
            )
        if self.max_length < 2:
            raise ValueError(f"max_length: must be at least 2, got {self.max_length}")
        if not isinstance(self.exit_criterion, str) or self.exit_criterion not in EXIT_CRITERIA:
            raise ValueError(f"exit_criterion: one of {EXIT_CRITERIA}, got {self.exit_criterion!r}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience: must be at least 1, got {self.patience}")
        if self.backbone_config is not None and not isinstance(self.backbone_config, dict):
            raise ValueError(f"backbone_config: a JSON object (the backbone's config), got {self.backbone_config!r}")
        curve = self.calibration_curve
        if curve is not None and (not isinstance(curve, str) or not curve.strip() or Path(curve).name != curve):
            raise ValueError(f"calibration_curve: a file name in the model directory, got {curve!r}")
        if self.temperatures is not None:
            temps = self.temperatures
            if not isinstance(temps, (list, tuple)) or not all(isinstance(t, (int, float)) and not isinstance(t, bool)
                                                                for t in temps):
                raise ValueError(f"temperatures: a list of numbers, one per layer, got {temps!r}")
            self.temperatures = [float(t) for t in temps]
            if not all(0.0 < t < float("inf") for t in self.temperatures):
                raise ValueError(f"temperatures: must be positive and finite, got {self.temperatures}")

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "FastBertConfig":
        if not isinstance(data, dict):
            raise ValueError(f"must hold a JSON object of fields, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known - {"format", "fastbert_version"}
        if unknown:
            raise ValueError(f"unknown fields {sorted(unknown)}")
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"format": "fastbert", **self.to_dict()}, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "FastBertConfig":
        """Read a saved config; any error names the file (and the field)."""
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ValueError(f"{path}: not valid JSON ({err})") from err
        try:
            return cls.from_dict(data)
        except (ValueError, TypeError) as err:  # TypeError: a required field is absent
            raise ValueError(f"{path}: {err}") from err


def _is_int(value) -> bool:
    """An integer, and not a bool (which Python counts as one)."""
    return isinstance(value, int) and not isinstance(value, bool)
