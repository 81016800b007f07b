"""int8 storage of a checkpoint's weight matrices (save_pretrained(dtype=torch.int8)).

Each 2-D floating tensor of the encoder's layers is stored as int8 with one float32 scale per
output row (symmetric, zero point 0, round to nearest: q = round(w / scale), scale =
max|row| / 127); the scales go beside it under `NAME + SCALE_SUFFIX`. (torch's
`quantize_per_channel` computes the same, but its quantized dtypes are deprecated.)
Every other floating tensor (embeddings, biases, LayerNorms, the classifiers) is stored as
float16. Loading multiplies back to float: inference runs in float32 as usual; only the file
is smaller (the 12-layer, 384-wide ChnSentiCorp model: 46 MB in float16, 25 MB so).
"""
from __future__ import annotations

import torch

SCALE_SUFFIX = ".int8_scale"


def is_quantized_key(name: str, tensor: torch.Tensor) -> bool:
    """The tensors stored as int8: the weight matrices of the encoder's layers."""
    return tensor.is_floating_point() and tensor.dim() == 2 and name.startswith("encoder.") and ".layer." in name


def quantize(name: str, weight: torch.Tensor) -> dict[str, torch.Tensor]:
    """{name: int8 (rows, cols), name + SCALE_SUFFIX: float32 (rows,)}."""
    w = weight.detach().float().cpu()
    scale = w.abs().amax(dim=1) / 127.0
    scale = torch.where(scale > 0, scale, torch.ones_like(scale))  # an all-zero row stays zero
    q = torch.round(w / scale.unsqueeze(1)).clamp(-127, 127).to(torch.int8)
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


def dequantize(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Stored tensors -> state-dict tensors (int8 matrices times their row scales, in float32).
    A scale without its matrix, or an int8 matrix without its scale, is an error (ValueError)."""
    scales = {k[: -len(SCALE_SUFFIX)]: v for k, v in tensors.items() if k.endswith(SCALE_SUFFIX)}
    out = {k: v for k, v in tensors.items() if not k.endswith(SCALE_SUFFIX)}
    for name, scale in scales.items():
        q = out.get(name)
        if (q is None or q.dtype != torch.int8 or q.dim() != 2 or tuple(scale.shape) != (q.size(0),)
                or not bool((scale > 0).all())):
            raise ValueError(f"{name}{SCALE_SUFFIX}: shape {tuple(scale.shape)}: no int8 matrix {name} with that "
                             "many rows and positive scales beside it")
        out[name] = q.float() * scale.float().unsqueeze(1)
    orphans = [k for k, v in out.items() if v.dtype == torch.int8]
    if orphans:
        raise ValueError(f"int8 tensors without a {SCALE_SUFFIX} scale: {', '.join(orphans[:5])}")
    return out


def storage_shapes(shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    """A stored file's tensor shapes without the scales (the state dict's shapes)."""
    return {k: v for k, v in shapes.items() if not k.endswith(SCALE_SUFFIX)}
