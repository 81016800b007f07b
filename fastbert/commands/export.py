"""`python -m fastbert export`: the model as ONNX segments for the onnxruntime runtime."""
from __future__ import annotations

from pathlib import Path


def cmd_export(args) -> int:
    from ..model import FastBert
    from ..onnx_export import export_segments

    model = FastBert.from_pretrained(args.model)
    out = Path(args.out) if args.out else Path(args.model) / "onnx"
    manifest = export_segments(model, out, optimize=args.fusions)
    print(f"wrote {manifest.num_layers} layer segments and the embeddings to {out} (key {manifest.key})")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("export", help="write the model as ONNX segments (embeddings, layer + classifier)")
    p.add_argument("--model", required=True)
    p.add_argument("--out", default=None, help="default: MODEL/onnx (read by from_pretrained(..., runtime='onnxruntime'))")
    p.add_argument("--fusions", action="store_true", help="apply onnxruntime.transformers' BERT fusions")
    p.set_defaults(func=cmd_export)
