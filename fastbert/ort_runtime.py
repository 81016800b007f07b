"""FastBERT's early-exit loop on ONNX Runtime: a `LayerRunner` over exported segments.

The loop itself (`fastbert.inference`) is the PyTorch runtime's: exit decisions, shrinking and
regrouped batches, FLOPs; only the embeddings and each layer + classifier step run in ONNX
Runtime sessions (see `fastbert.onnx_export`). Segments are found, in order, in the directory
given, in the cache (`cache_root()`, one folder per `model_key`), or exported into the cache.

Example:
    >>> model = FastBert.from_pretrained("assets/models/sst2-minilm", runtime="onnxruntime")  # doctest: +SKIP
    >>> model.runtime, model.predict("a fine film")[0].label                  # doctest: +SKIP
    ('onnxruntime', 'positive')
"""
from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .inference import LayerStep
from .onnx_exit_graph import EXIT_GRAPH
from .onnx_export import LAYER_OUTPUTS, ExportManifest, export_segments, model_key

CACHE_ENV = "FASTBERT_ONNX_CACHE"
LEVELS = ("disable", "basic", "extended", "all")


def cache_root() -> Path:
    """$FASTBERT_ONNX_CACHE, else $XDG_CACHE_HOME/fastbert/onnx (~/.cache/fastbert/onnx)."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fastbert" / "onnx"


@dataclass
class OrtOptions:
    """Session settings. threads None: torch's current thread count. spinning: whether idle
    worker threads busy-wait for work (ORT's default, on); off here, because every segment is a
    session with its own pool, and spinning pools fight over the cores. fusions: rewrite the
    layer graphs with onnxruntime.transformers' BERT fusions at export. io_binding: bind inputs
    and preallocated outputs by pointer instead of `session.run`'s conversions. shared_pool: the
    sessions use the process's global thread pool (`onnxruntime.set_global_thread_pool_sizes`
    must have been called before any session was made) instead of one pool each. exit_graph:
    run a lone sample's whole early exit as one call of the exit graph
    (`fastbert.onnx_exit_graph`) instead of one call per segment."""

    threads: int | None = None
    spinning: bool = False
    level: str = "all"
    fusions: bool = False
    io_binding: bool = False
    shared_pool: bool = False
    exit_graph: bool = True

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise ValueError(f"level: one of {LEVELS}, got {self.level!r}")
        if self.threads is not None and self.threads < 1:
            raise ValueError(f"threads: at least 1 (or None for torch's count), got {self.threads}")


def session_options(options: OrtOptions):
    import onnxruntime as ort

    so = ort.SessionOptions()
    if options.shared_pool:
        so.use_per_session_threads = False
        return _with_level(so, options)
    so.intra_op_num_threads = options.threads or torch.get_num_threads()
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "1" if options.spinning else "0")
    return _with_level(so, options)


def _with_level(so, options: OrtOptions):
    import onnxruntime as ort

    so.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[options.level]
    so.log_severity_level = 3  # errors only
    return so


def new_session(path: str | Path, options: OrtOptions):
    import onnxruntime as ort

    return ort.InferenceSession(str(path), session_options(options), providers=["CPUExecutionProvider"])


def _numpy(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.numpy())


class OrtRunner:
    """`LayerRunner` on ONNX Runtime sessions, one per segment. `source` says where the
    segments came from: "directory" (given), "cache" (exported earlier) or "exported" (now)."""

    def __init__(self, directory: Path, manifest: ExportManifest, options: OrtOptions, source: str):
        self.directory, self.manifest, self.options, self.source = directory, manifest, options, source
        self.num_layers = manifest.num_layers
        self.embedding = new_session(directory / "embeddings.onnx", options)
        self.layers = [new_session(directory / manifest.layer_file(i), options) for i in range(self.num_layers)]
        self._types = "token_type_ids" in manifest.embedding_inputs
        self._classes = self.layers[0].get_outputs()[1].shape[-1]
        graph = directory / EXIT_GRAPH
        self.exit_session = new_session(graph, options) if options.exit_graph and graph.is_file() else None

    @contextlib.contextmanager
    def loop_threads(self):
        """Torch on one thread while the loop runs: the sessions have their own threads, and the
        loop's own tensor work (indexing, regrouping) is small. With torch's OpenMP threads on a
        busy machine a 1 MB concatenation took milliseconds (profiled: 15% of the loop's time at
        batch 32), and speed 0.5 at batch 32 spent 1.83x less CPU than (d) instead of 2.59x."""
        threads = torch.get_num_threads()
        if threads != 1:
            torch.set_num_threads(1)
        try:
            yield
        finally:
            if threads != 1:
                torch.set_num_threads(threads)

    def embed(self, input_ids, token_type_ids):
        feed = {"input_ids": _numpy(input_ids)}
        if self._types:
            feed["token_type_ids"] = _numpy(token_type_ids if token_type_ids is not None else torch.zeros_like(input_ids))
        return torch.from_numpy(self.embedding.run(None, feed)[0])

    def layer_mask(self, hidden, mask, padded):
        return _numpy(mask)  # the segments build the additive mask themselves

    def step(self, index, hidden, mask, padded, layer_mask, temperature=None) -> LayerStep:
        session = self.layers[index]
        t = np.array([1.0 if temperature is None else temperature], dtype=np.float32)
        if self.options.io_binding:
            return self._bound_step(session, hidden, layer_mask, t)
        h, p = session.run(LAYER_OUTPUTS, {"hidden": _numpy(hidden), "mask": layer_mask, "temperature": t})
        return LayerStep(torch.from_numpy(h), torch.from_numpy(p))

    def exit_one(self, input_ids, token_type_ids, speed: float, temperatures=None):
        """One sample's whole early exit in one call of the exit graph, with the entropy
        criterion at `speed` (a negative speed: no exit, every layer): (layer_probs (L, 1, C),
        NaN after the exit; exit_layer (1,)). None when this runner has no exit graph."""
        if self.exit_session is None:
            return None
        feed = {"input_ids": _numpy(input_ids),
                # the form and float32 rounding of `entropy_criterion`'s comparison
                "threshold": np.array([speed * math.log(self._classes)], np.float32),
                "temperatures": np.array(temperatures or [1.0] * self.num_layers, np.float32)}
        if self._types:
            feed["token_type_ids"] = _numpy(token_type_ids if token_type_ids is not None
                                            else torch.zeros_like(input_ids))
        probs, exit_layer = self.exit_session.run(None, feed)
        return torch.from_numpy(probs), torch.from_numpy(exit_layer)

    def _bound_step(self, session, hidden, layer_mask, temperature) -> LayerStep:
        x = hidden.contiguous()
        out_h, out_p = torch.empty_like(x), torch.empty((x.size(0), self._classes), dtype=x.dtype)
        binding = session.io_binding()
        binding.bind_input("hidden", "cpu", 0, np.float32, list(x.shape), x.data_ptr())
        binding.bind_input("mask", "cpu", 0, np.int64, list(layer_mask.shape), layer_mask.ctypes.data)
        binding.bind_cpu_input("temperature", temperature)
        binding.bind_output("next_hidden", "cpu", 0, np.float32, list(out_h.shape), out_h.data_ptr())
        binding.bind_output("probs", "cpu", 0, np.float32, list(out_p.shape), out_p.data_ptr())
        session.run_with_iobinding(binding)
        return LayerStep(out_h, out_p)


def find_segments(model, directory: str | Path | None = None, cache: str | Path | None = None,
                  fusions: bool = False) -> tuple[Path, ExportManifest, str]:
    """(directory, manifest, source) of segments exported from exactly this model: `directory`
    when its manifest's key matches, else the cache's entry, else a new export into the cache."""
    key = model_key(model)
    if directory is not None:
        manifest = ExportManifest.read(directory)
        if manifest is not None and manifest.key == key and manifest.optimized == fusions:
            return Path(directory), manifest, "directory"
    entry = Path(cache or cache_root()) / f"{key}{'-fused' if fusions else ''}"
    manifest = ExportManifest.read(entry)
    if manifest is not None and manifest.key == key:
        return entry, manifest, "cache"
    return entry, export_segments(model, entry, optimize=fusions), "exported"


def load_runner(model, directory: str | Path | None = None, cache: str | Path | None = None,
                options: OrtOptions | None = None) -> OrtRunner:
    """An `OrtRunner` for `model` (see `find_segments`). Raises ImportError without onnxruntime."""
    import onnxruntime  # noqa: F401  (fail before exporting anything)

    options = options or OrtOptions()
    path, manifest, source = find_segments(model, directory, cache, options.fusions)
    return OrtRunner(path, manifest, options, source)
