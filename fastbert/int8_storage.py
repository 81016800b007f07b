"""int8 storage of a checkpoint's weight matrices (save_pretrained(dtype=torch.int8)).

Each 2-D floating tensor of the encoder's layers is stored as int8 with one float32 scale per
group of GROUP consecutive weights of a row (symmetric, zero point 0, round to nearest:
q = round(w / scale), scale = max|group| / 127); the scales, shaped (rows, cols / GROUP), go
beside it under `NAME + SCALE_SUFFIX`. A row whose length GROUP does not divide is one group.
Files written with one scale per row (shape (rows,), before groups) load as before.
Why groups: on the 12-layer ChnSentiCorp model (3 fine-tuning epochs) one scale per row cost
0.75 points of full-model dev accuracy against float16 (92.08% against 92.83%); groups of 128
or 64 cost 0.08 (92.75%), groups of 32 nothing (92.83%), for 12.5% more bytes than one scale
per row (`python benchmarks/int8_groups.py --model runs/chnsenticorp-12l-more2 --data
../shared/data/chnsenticorp/dev.tsv`).
Every other floating tensor (embeddings, biases, LayerNorms, the classifiers) is stored as
float16. Loading multiplies back to float: inference runs in float32 as usual; only the file
is smaller (the 12-layer, 384-wide ChnSentiCorp model: 46 MB in float16, 28 MB so).
"""
from __future__ import annotations

import torch

SCALE_SUFFIX = ".int8_scale"
GROUP = 32


def is_quantized_key(name: str, tensor: torch.Tensor) -> bool:
    """The tensors stored as int8: the weight matrices of the encoder's layers."""
    return tensor.is_floating_point() and tensor.dim() == 2 and name.startswith("encoder.") and ".layer." in name


def quantize(name: str, weight: torch.Tensor, group: int | None = GROUP) -> dict[str, torch.Tensor]:
    """{name: int8 (rows, cols), name + SCALE_SUFFIX: float32 (rows, cols // group)}.
    group=None (or one that does not divide cols): one scale per row, shape (rows, 1)."""
    w = weight.detach().float().cpu()
    rows, cols = w.shape
    g = group if group and cols % group == 0 else cols
    blocks = w.reshape(rows, cols // g, g)
    scale = blocks.abs().amax(dim=2) / 127.0
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero group stays zero
    q = torch.round(blocks / scale.unsqueeze(2)).clamp(-127, 127).to(torch.int8).reshape(rows, cols)
    return {name: q.contiguous(), name + SCALE_SUFFIX: scale.contiguous()}


def storage_tensors(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """What an int8 checkpoint stores for `state`."""
    out: dict[str, torch.Tensor] = {}
    for name, tensor in state.items():
        if is_quantized_key(name, tensor):
            out.update(quantize(name, tensor))
        elif tensor.is_floating_point():
            out[name] = tensor.detach().to(torch.float16).cpu().contiguous()
        else:
            out[name] = tensor.detach().cpu().contiguous()
    return out


def _pairs_up(q: torch.Tensor | None, scale: torch.Tensor) -> bool:
    """An int8 matrix with one positive scale per row (rows,) or per equal group (rows, groups)."""
    if q is None or q.dtype != torch.int8 or q.dim() != 2 or not bool((scale > 0).all()):
        return False
    if scale.dim() == 1:
        return scale.size(0) == q.size(0)
    return scale.dim() == 2 and scale.size(0) == q.size(0) and scale.size(1) > 0 and q.size(1) % scale.size(1) == 0


def dequantize(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Stored tensors -> state-dict tensors (int8 matrices times their scales, in float32).
    A scale without its matrix, or an int8 matrix without its scale, is an error (ValueError)."""
    scales = {k[: -len(SCALE_SUFFIX)]: v for k, v in tensors.items() if k.endswith(SCALE_SUFFIX)}
    out = {k: v for k, v in tensors.items() if not k.endswith(SCALE_SUFFIX)}
    for name, scale in scales.items():
        q = out.get(name)
        if not _pairs_up(q, scale):
            raise ValueError(f"{name}{SCALE_SUFFIX}: shape {tuple(scale.shape)}: no int8 matrix {name} with "
                             "that many rows (and columns a multiple of its groups) and positive scales beside it")
        s = scale.float().reshape(q.size(0), -1)
        out[name] = (q.float().reshape(q.size(0), s.size(1), -1) * s.unsqueeze(2)).reshape(q.shape)
    orphans = [k for k, v in out.items() if v.dtype == torch.int8]
    if orphans:
        raise ValueError(f"int8 tensors without a {SCALE_SUFFIX} scale: {', '.join(orphans[:5])}")
    return out


def storage_shapes(shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """A stored file's tensor shapes without the scales (the state dict's shapes)."""
    return {k: v for k, v in shapes.items() if not k.endswith(SCALE_SUFFIX)}
