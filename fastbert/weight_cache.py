"""Tensors derived from a module's parameters (fused weight products), kept until a parameter
changes.

Inference at batch size 1 is dominated by per-call overhead, and part of it is Python: reading
a sub-module's weight through `module.sub.weight` costs about a microsecond per step, and a
layer reads a dozen. `derived` looks the parameters up once, keeps them with what was built
from them, and on later calls only checks, with plain dictionary lookups from the owner down,
that every sub-module and parameter on the way is still the same object, at the same address,
at the same in-place version.

Not seen: in-place edits through `param.data` (they bypass the version counter). After such
edits call `clear(model)`; `FastBert` also clears on every change of train/eval mode and on
`.to()` / `.half()` / `.cpu()`.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn
from torch.nn.modules import module as _torch_module

PREFIX = "_derived:"


def derived(owner: nn.Module, key: str, paths: tuple[str, ...], build: Callable[..., Any]) -> Any:
    """`build(*params)` for the parameters at the dotted `paths` under `owner`, cached in owner.

    Rebuilt when any parameter or sub-module on those paths was replaced (a new Parameter,
    load_state_dict(assign=True), a swapped-in module), moved or converted (`.to()`, `.half()`),
    or updated in place (optimizer steps, load_state_dict). When a path does not lead to a
    parameter (the module was replaced by one without it, such as a quantized linear), the
    result is None, until the structure changes again.
    """
    entry = owner.__dict__.get(PREFIX + key)
    if entry is not None and _unchanged(owner, *entry[0]):
        return entry[1]
    steps, params = _walk(owner, paths)
    value = None
    if all(p is not None for _, _, p, _, _ in params):
        with torch.no_grad():
            value = build(*(p for _, _, p, _, _ in params))
    owner.__dict__[PREFIX + key] = ((steps, params), value)
    return value


def has_forward_hooks(modules) -> bool:
    """Whether calling these modules would run forward hooks (their own or global ones): a
    forward that reads their weights directly would skip them."""
    return bool(_torch_module._global_forward_hooks or _torch_module._global_forward_pre_hooks) or any(
        m._forward_hooks or m._forward_pre_hooks for m in modules)


def clear(module: nn.Module) -> None:
    """Drop every cached derivation in `module` and its sub-modules (rebuilt on the next call)."""
    for m in module.modules():
        for k in [k for k in m.__dict__ if k.startswith(PREFIX)]:
            del m.__dict__[k]


def _walk(owner, paths):
    """Sub-module steps (parent step index, name, child) from the owner down, and per path
    (step index, name, parameter, address, version); a missing piece is recorded as None."""
    steps, index, params = [], {"": -1}, []
    for path in paths:
        module_path, _, name = path.rpartition(".")
        at, prefix, module = -1, "", owner
        for part in module_path.split(".") if module_path else ():
            prefix = f"{prefix}.{part}"
            if prefix not in index:
                child = module._modules.get(part) if module is not None else None
                steps.append((at, part, child))
                index[prefix] = len(steps) - 1
            at = index[prefix]
            module = steps[at][2]
        p = module._parameters.get(name) if module is not None else None
        if p is None:
            params.append((at, name, None, 0, None))
        else:
            version = None if p.is_inference() else p._version  # inference tensors have no counter
            params.append((at, name, p, p.data_ptr(), version))
    return tuple(steps), tuple(params)


def _unchanged(owner, steps, params) -> bool:
    for parent, name, child in steps:
        holder = owner if parent < 0 else steps[parent][2]
        if holder is not None and holder._modules.get(name) is not child:
            return False
    for at, name, p, ptr, version in params:
        holder = owner if at < 0 else steps[at][2]
        current = holder._parameters.get(name) if holder is not None else None
        if current is not p:
            return False
        if p is not None and (version is None or p._version != version or p.data_ptr() != ptr):
            return False
    return True
