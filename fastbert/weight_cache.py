"""Tensors derived from a module's parameters (fused weight products), kept until a parameter
changes.

Inference at batch size 1 is dominated by per-call overhead, and part of it is Python: reading
a sub-module's weight through `module.sub.weight` costs about a microsecond per step, and a
layer reads a dozen. `derived` looks the parameters up once, keeps them with what was built
from them, and on later calls only checks, with plain dictionary lookups, that each is still
the same tensor, at the same address, at the same in-place version.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn


def derived(owner: nn.Module, key: str, paths: tuple[str, ...], build: Callable[..., Any]) -> Any:
    """`build(*params)` for the parameters at the dotted `paths` under `owner`, cached in owner.

    Rebuilt when any of them was replaced (load_state_dict(assign=True), a new Parameter),
    moved or converted (`.to()`, `.half()`), or updated in place (optimizer steps,
    load_state_dict). Replacing a whole sub-module after a call is not detected.
    """
    entry = owner.__dict__.get(key)
    if entry is not None:
        slots, value = entry
        if all(d.get(name) is p and p._version == v and p.data_ptr() == ptr for d, name, p, ptr, v in slots):
            return value
    params, slots = [], []
    for path in paths:
        module_path, _, name = path.rpartition(".")
        module = owner.get_submodule(module_path) if module_path else owner
        p = module._parameters[name]
        params.append(p)
        slots.append((module._parameters, name, p, p.data_ptr(), p._version))
    with torch.no_grad():
        value = build(*params)
    owner.__dict__[key] = (tuple(slots), value)
    return value
