"""`python -m fastbert export`: the model as ONNX segments for the onnxruntime runtime."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .common import add_command


@dataclass
class ExportOptions:
    model: str = field(metadata={"help": "a saved FastBERT model directory"})
    out: str | None = field(default=None, metadata={
        "help": "default: MODEL/onnx (read by from_pretrained(..., runtime='onnxruntime'))"})
    fusions: bool = field(default=False, metadata={"help": "apply onnxruntime.transformers' BERT fusions"})


def run(opts: ExportOptions) -> int:
    from ..model import FastBert
    from ..onnx_export import export_segments

    model = FastBert.from_pretrained(opts.model)
    out = Path(opts.out) if opts.out else Path(opts.model) / "onnx"
    manifest = export_segments(model, out, optimize=opts.fusions)
    print(f"wrote {manifest.num_layers} layer segments and the embeddings to {out} (key {manifest.key})")
    return 0


def register(subparsers) -> None:
    add_command(subparsers, "export", run, ExportOptions,
                help="write the model as ONNX segments (embeddings, layer + classifier)")
