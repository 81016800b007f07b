"""Export a FastBERT model as ONNX segments that the early-exit loop calls one at a time.

`embeddings.onnx`: (input_ids[, token_type_ids]) (B, T) -> hidden (B, T, H).
`layer_NN.onnx`: (hidden (B, T, H), mask (B, T), temperature (1,)) -> (next_hidden (B, T, H),
probs (B, C)): encoder layer NN, its classifier and the softmax of logits / temperature (1 for the
uncalibrated probabilities) in one graph, so one call gives the next layer its input
and the exit rule its probabilities. Batch and sequence axes are dynamic.

The layers are exported with eager attention and an additive mask (0 for tokens, the dtype's
minimum for padding), which is what the PyTorch path's mask does for the real tokens; the
classifiers in their inference form (`LayerClassifier.inference_weights`). The legacy TorchScript
exporter (`dynamo=False`) is used: the dynamo exporter of torch 2.13 stops at the weight caches,
which read tensors' data pointers.

Example:
    >>> export_segments(model, "runs/onnx")                                   # doctest: +SKIP
    ExportManifest(key='3f1c...', num_layers=6, ...)
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

# Bump when the exported graphs change, so that caches made by an older version are not reused.
FORMAT = 4  # 3: the exit graph (fastbert.onnx_exit_graph) is part of every export; 4: its layers unpadded
OPSET = 17
MANIFEST = "manifest.json"
LAYER_INPUTS, LAYER_OUTPUTS = ("hidden", "mask", "temperature"), ("next_hidden", "probs")


@dataclass
class ExportManifest:
    """What a directory of segments holds. `key`: `model_key` of the model it was exported from."""

    key: str
    num_layers: int
    embedding_inputs: list[str]
    optimized: bool
    format: int = FORMAT

    def layer_file(self, index: int) -> str:
        return f"layer_{index:02d}.onnx"

    @classmethod
    def read(cls, directory: str | Path) -> "ExportManifest | None":
        path = Path(directory) / MANIFEST
        if not path.is_file():
            return None
        data = json.loads(path.read_text())
        return cls(**data) if data.get("format") == FORMAT else None


def model_key(model) -> str:
    """A hash of everything the segments compute from: config, weights (names, shapes, dtypes,
    bytes) and the export format. Equal keys mean interchangeable exports."""
    h = hashlib.sha256(json.dumps({"format": FORMAT, "opset": OPSET, "config": model.config.to_dict()},
                                  sort_keys=True, default=str).encode())
    for name, t in sorted(model.state_dict().items()):
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{tuple(t.shape)}:{t.dtype}".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()[:32]


class EmbeddingSegment(nn.Module):
    def __init__(self, encoder):
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        return self.encoder.embed(input_ids, token_type_ids)


def additive_mask(mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(B, T) 1/0 -> (B, 1, 1, T): 0 where a token may be attended to, the dtype's minimum where not."""
    return (1.0 - mask[:, None, None, :].to(dtype)) * torch.finfo(dtype).min


class LayerSegment(nn.Module):
    """Encoder layer `index`, then the softmax of its classifier's logits / temperature:
    (hidden, mask, temperature) -> (next hidden, probs)."""

    def __init__(self, model, index: int):
        super().__init__()
        self.layer = model.encoder.model.encoder.layer[index]
        self.classifier = model.classifiers[index]

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor,
                temperature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.layer(hidden, attention_mask=additive_mask(mask, hidden.dtype))
        hidden = out[0] if isinstance(out, tuple) else out
        return hidden, (self.classifier(hidden, mask) / temperature).softmax(-1)


class UnpaddedLayerSegment(LayerSegment):
    """`LayerSegment` for a sample without padding (the exit graph's lone sample): no attention
    mask in the layer nor in the classifier, so none of the ops that build or apply one.
    (hidden, temperature) -> (next hidden, probs)."""

    def forward(self, hidden: torch.Tensor, temperature: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.layer(hidden)
        hidden = out[0] if isinstance(out, tuple) else out
        return hidden, (self.classifier(hidden, None) / temperature).softmax(-1)


class FullGraph(nn.Module):
    """The whole model as one graph (every layer, the teacher, softmax): how a user who does not
    exit early would export it. The benchmark's reference (d)."""

    def __init__(self, model):
        super().__init__()
        self.embed = EmbeddingSegment(model.encoder)
        self.layers = nn.ModuleList(model.encoder.model.encoder.layer)
        self.teacher = model.teacher

    def forward(self, input_ids, mask, token_type_ids=None):
        hidden = self.embed(input_ids, token_type_ids)
        additive = additive_mask(mask, hidden.dtype)
        for layer in self.layers:
            out = layer(hidden, attention_mask=additive)
            hidden = out[0] if isinstance(out, tuple) else out
        return self.teacher(hidden, mask).softmax(-1)


@contextlib.contextmanager
def _export_mode(model):
    """Eager attention (the additive mask above is its input), eval mode, autograd off, and the
    classifiers' fused weights built beforehand so they are exported as constants."""
    config = model.encoder.config
    impl, was_training = getattr(config, "_attn_implementation", None), model.training
    model.eval()
    config._attn_implementation = "eager"
    try:
        with torch.no_grad():
            for clf in model.classifiers:
                clf.inference_weights()
            yield
    finally:
        config._attn_implementation = impl
        model.train(was_training)


def _export(module: nn.Module, args: tuple, path: Path, inputs, outputs, axes: dict) -> None:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about Python values in shapes
        torch.onnx.export(module, args, str(path), input_names=list(inputs), output_names=list(outputs),
                          dynamic_axes=axes, opset_version=OPSET, dynamo=False)


def _sample_inputs(model, batch: int = 2, length: int = 7):
    ids = torch.randint(0, model.encoder.config.vocab_size, (batch, length))
    types = torch.zeros_like(ids) if model.encoder.uses_token_types else None
    return ids, types


def optimize_layer(path: Path, model) -> None:
    """Rewrite a layer segment with onnxruntime's transformer fusions (in place)."""
    from onnxruntime.transformers import optimizer

    cfg = model.encoder.config
    with contextlib.redirect_stdout(None):
        opt = optimizer.optimize_model(str(path), model_type="bert", num_heads=cfg.num_attention_heads,
                                       hidden_size=cfg.hidden_size, opt_level=0)
    opt.save_model_to_file(str(path))


def export_segments(model, directory: str | Path, optimize: bool = False) -> ExportManifest:
    """Write every segment and a manifest into `directory` (replaced whole, atomically: a
    half-written export is never left under that name). optimize: apply `optimize_layer`."""
    directory = Path(directory)
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=directory.parent))
    try:
        manifest = _write_segments(model, tmp, optimize)
        if directory.exists():
            shutil.rmtree(directory)
        tmp.rename(directory)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return manifest


def _write_segments(model, out: Path, optimize: bool) -> ExportManifest:
    key = model_key(model)
    ids, types = _sample_inputs(model)
    dyn = {0: "batch", 1: "tokens"}
    with _export_mode(model):
        names = ["input_ids"] + (["token_type_ids"] if types is not None else [])
        _export(EmbeddingSegment(model.encoder), (ids, types) if types is not None else (ids,),
                out / "embeddings.onnx", names, ["hidden"], {n: dyn for n in names + ["hidden"]})
        hidden = model.encoder.embed(ids, types)
        mask = torch.ones_like(ids)
        manifest = ExportManifest(key, model.num_layers, names, optimize)
        for i in range(model.num_layers):
            path = out / manifest.layer_file(i)
            _export(LayerSegment(model, i), (hidden, mask, torch.ones(1)), path, LAYER_INPUTS, LAYER_OUTPUTS,
                    {"hidden": dyn, "mask": dyn, "next_hidden": dyn, "probs": {0: "batch"}})
            if optimize:
                optimize_layer(path, model)
        _write_exit_graph(model, out, manifest, hidden[:1])
    (out / MANIFEST).write_text(json.dumps(asdict(manifest), indent=1) + "\n")
    return manifest


def _write_exit_graph(model, out: Path, manifest: ExportManifest, hidden: torch.Tensor) -> None:
    """The exit graph (`fastbert.onnx_exit_graph`) from the embeddings segment and unpadded
    layer segments, exported into a scratch folder that is removed afterwards."""
    from .onnx_exit_graph import write_exit_graph

    scratch = out / "unpadded"
    scratch.mkdir()
    dyn = {1: "tokens"}
    layers = []
    for i in range(model.num_layers):
        layers.append(scratch / manifest.layer_file(i))
        _export(UnpaddedLayerSegment(model, i), (hidden, torch.ones(1)), layers[-1], ("hidden", "temperature"),
                LAYER_OUTPUTS, {"hidden": dyn, "next_hidden": dyn})
    write_exit_graph(out, out / "embeddings.onnx", layers, manifest, len(model.config.labels))
    shutil.rmtree(scratch)


def export_full_graph(model, path: str | Path) -> list[str]:
    """The whole model as one ONNX file (`FullGraph`); returns its input names."""
    ids, types = _sample_inputs(model)
    names = ["input_ids", "mask"] + (["token_type_ids"] if types is not None else [])
    args = (ids, torch.ones_like(ids)) + ((types,) if types is not None else ())
    dyn = {0: "batch", 1: "tokens"}
    with _export_mode(model):
        _export(FullGraph(model), args, Path(path), names, ["probs"],
                {**{n: dyn for n in names}, "probs": {0: "batch"}})
    return names
