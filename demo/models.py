"""Which models the app can show, loaded once each and guarded by a lock.

The lock serialises the model's forward passes (they gain nothing from running side by side on
a CPU); tokenizing happens outside it (`FastBert.tokenize` is thread-safe).
"""
from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from fastbert import FastBert, get_criterion
from fastbert.uncertainty import ExitCriterion

ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = ROOT / "assets" / "models"
DEFAULT_MODEL = MODELS_DIR / "sst2-minilm"


def find_models(root: str | Path = MODELS_DIR) -> dict[str, Path]:
    """Model directories under `root` (every subdirectory with a config.json), by name.

    >>> find_models("/nonexistent")
    {}
    """
    root = Path(root)
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if (p / "config.json").is_file()}


@dataclass
class LoadedModel:
    """A model ready to serve: the model, its exit criterion and the lock around its use."""

    name: str
    model: FastBert
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def criterion(self) -> ExitCriterion:
        cfg = self.model.config
        return get_criterion(cfg.exit_criterion, cfg.patience)

    @property
    def labels(self) -> list[str]:
        return self.model.config.labels

    @property
    def num_layers(self) -> int:
        return self.model.num_layers

    @property
    def runtime(self) -> str:
        """Which runtime answers: "onnxruntime" or "pytorch"."""
        return self.model.runtime


def use_runtime(model: FastBert, runtime: str, name: str) -> None:
    """Switch `model` to `runtime`; if that fails (onnxruntime not installed, an export that
    fails), it stays on PyTorch and a one-line notice says why."""
    if runtime == model.runtime:
        return
    try:
        model.set_runtime(runtime)
    except Exception as err:
        reason = (str(err).strip().splitlines() or [""])[0][:200]
        print(f"notice: model {name!r} runs on PyTorch, not {runtime} ({type(err).__name__}: {reason})",
              file=sys.stderr, flush=True)


class ModelRegistry:
    """Model choices by name; each is loaded the first time it is asked for.

    >>> reg = ModelRegistry.from_model(model, name="tiny")   # doctest: +SKIP
    >>> reg.get("tiny").num_layers                             # doctest: +SKIP
    3
    """

    def __init__(self, sources: dict[str, str | Path | FastBert], default: str, runtime: str | None = None):
        """runtime: "onnxruntime" or "pytorch" for every model (with a fall back to PyTorch,
        see `use_runtime`); None leaves each model on the runtime it has."""
        if default not in sources:
            raise ValueError(f"default model {default!r} is not among {sorted(sources)}")
        self.sources = dict(sources)
        self.default = default
        self._loaded: dict[str, LoadedModel] = {}
        self._load_lock = threading.Lock()
        self.runtime = runtime

    @classmethod
    def from_source(cls, source: str | Path, models_dir: str | Path | None = MODELS_DIR,
                    runtime: str | None = "onnxruntime") -> "ModelRegistry":
        """The model at `source` (a directory or a hub id) plus every model in `models_dir`,
        on ONNX Runtime by default."""
        sources: dict[str, str | Path | FastBert] = dict(find_models(models_dir)) if models_dir else {}
        path = Path(source)
        name = path.name if path.is_dir() else str(source)
        if name in sources and Path(sources[name]).resolve() != path.resolve():
            name = str(source)  # a different directory that happens to share a name
        sources[name] = path if path.is_dir() else str(source)
        return cls(sources, default=name, runtime=runtime)

    @classmethod
    def from_model(cls, model: FastBert, name: str = "model") -> "ModelRegistry":
        """Serve an in-memory model (tests, notebooks)."""
        return cls({name: model}, default=name)

    @property
    def names(self) -> list[str]:
        return list(self.sources)

    def get(self, name: str | None = None) -> LoadedModel:
        name = name or self.default
        if name not in self.sources:
            raise KeyError(f"unknown model {name!r}; choose one of {self.names}")
        with self._load_lock:
            if name not in self._loaded:
                source = self.sources[name]
                model = source if isinstance(source, FastBert) else FastBert.from_pretrained(source)
                model.eval()
                if self.runtime is not None:
                    use_runtime(model, self.runtime, name)
                model.cost  # FLOPs counting traces modules once; do it before serving
                model.text_encoder  # and the tokenizer's thread-safe copy
                self._loaded[name] = LoadedModel(name, model)
            return self._loaded[name]
