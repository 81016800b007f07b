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
        self.labels = [str(label) for label in self.labels]
        if len(self.labels) < 2:
            raise ValueError(f"labels: need at least 2 classes, got {self.labels!r}")
        if len(set(self.labels)) != len(self.labels):
            raise ValueError(f"labels: names must be unique, got {self.labels!r}")
        if self.classifier_width <= 0:
            raise ValueError(f"classifier_width: must be positive, got {self.classifier_width}")
        if self.classifier_heads <= 0 or self.classifier_width % self.classifier_heads:
            raise ValueError(
                f"classifier_heads: must divide classifier_width={self.classifier_width}, "
                f"got {self.classifier_heads}"
            )
        if self.max_length < 2:
            raise ValueError(f"max_length: must be at least 2, got {self.max_length}")
        if self.exit_criterion not in EXIT_CRITERIA:
            raise ValueError(f"exit_criterion: one of {EXIT_CRITERIA}, got {self.exit_criterion!r}")
        if self.patience is not None and self.patience < 1:
            raise ValueError(f"patience: must be at least 1, got {self.patience}")
        if self.calibration_curve is not None and (not self.calibration_curve.strip()
                                                   or Path(self.calibration_curve).name != self.calibration_curve):
            raise ValueError(f"calibration_curve: a file name in the model directory, got {self.calibration_curve!r}")
        if self.temperatures is not None:
            self.temperatures = [float(t) for t in self.temperatures]
            if not all(0.0 < t < float("inf") for t in self.temperatures):
                raise ValueError(f"temperatures: must be positive and finite, got {self.temperatures}")

    @property
    def num_labels(self) -> int:
        return len(self.labels)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "FastBertConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known - {"format", "fastbert_version"}
        if unknown:
            raise ValueError(f"config.json: unknown fields {sorted(unknown)}")
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps({"format": "fastbert", **self.to_dict()}, indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "FastBertConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))
