"""Self-contained model directories: config.json, model.safetensors, tokenizer files.

Loading is strict: a weight that is missing, unexpected or of the wrong shape is an error
that names it (never a silent `strict=False`).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from .backbone import LayerwiseEncoder, resolve_backbone
from .calibration import CURVE_FILE, CurveError, load_curve, save_curve
from .config import FastBertConfig

WEIGHTS = "model.safetensors"
BASE_WEIGHTS = "base_weights.json"
METADATA = "training.json"


class CheckpointError(ValueError):
    """A model directory that does not match the model it describes."""


def _base_state(source: str) -> dict[str, torch.Tensor]:
    """The backbone's pretrained tensors, keyed as in a FastBert state dict."""
    encoder = LayerwiseEncoder.from_pretrained(resolve_backbone(source))
    return {f"encoder.{k}": v for k, v in encoder.state_dict().items()}


def save_checkpoint(model, directory: Path, dtype: torch.dtype, base_weights: str | None,
                    metadata: dict | None) -> None:
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    state = model.state_dict()
    left_out: list[str] = []
    if base_weights is not None:
        base = _base_state(base_weights)
        left_out = sorted(k for k, v in state.items()
                          if k in base and base[k].shape == v.shape and torch.equal(base[k], v.cpu()))
    tensors = {k: (v.detach().to(dtype) if v.is_floating_point() else v.detach()).cpu().contiguous()
               for k, v in state.items() if k not in left_out}
    save_file(tensors, str(directory / WEIGHTS), metadata={"format": "pt"})
    (directory / BASE_WEIGHTS).unlink(missing_ok=True)
    if left_out:
        (directory / BASE_WEIGHTS).write_text(json.dumps({"source": base_weights, "tensors": left_out}, indent=1))
    model.config.calibration_curve = None if model.curve is None else (model.config.calibration_curve or CURVE_FILE)
    if model.curve is not None:
        save_curve(model.curve, directory / model.config.calibration_curve)
    model.config.save(directory / "config.json")
    model.tokenizer.save_pretrained(str(directory))
    if metadata is not None:
        (directory / METADATA).write_text(json.dumps(metadata, indent=2) + "\n")


def resolve_model_dir(directory_or_hub_id: str | Path) -> Path:
    path = Path(directory_or_hub_id)
    if path.is_dir():
        return path
    if path.exists() or str(directory_or_hub_id).startswith((".", "/")):
        raise FileNotFoundError(f"no model directory at {path}")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(repo_id=str(directory_or_hub_id)))
    except Exception as err:  # offline, unknown repo, ...
        raise FileNotFoundError(
            f"{directory_or_hub_id!r} is not a local directory and could not be fetched from the "
            f"Hugging Face Hub ({type(err).__name__}: {err})") from err


def load_checkpoint(cls, directory_or_hub_id: str | Path):
    from safetensors.torch import load_file
    from transformers import AutoTokenizer

    directory = resolve_model_dir(directory_or_hub_id)
    for name in ("config.json", WEIGHTS):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory} is not a FastBERT model directory: {name} is missing")
    config = FastBertConfig.load(directory / "config.json")
    if not config.backbone_config:
        raise CheckpointError(f"{directory}/config.json has no backbone_config")
    encoder = LayerwiseEncoder.from_config(config.backbone_config)
    model = cls(config, encoder, AutoTokenizer.from_pretrained(str(directory)))
    tensors = load_file(str(directory / WEIGHTS))
    if (directory / BASE_WEIGHTS).is_file():
        spec = json.loads((directory / BASE_WEIGHTS).read_text())
        base = _base_state(spec["source"])
        absent = [k for k in spec["tensors"] if k not in base]
        if absent:
            raise CheckpointError(f"backbone {spec['source']!r} lacks tensors {absent[:5]}")
        tensors.update({k: base[k] for k in spec["tensors"]})
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    unexpected = sorted(set(tensors) - set(expected))
    misshaped = sorted(f"{k}: file {tuple(tensors[k].shape)} vs model {tuple(v.shape)}"
                       for k, v in expected.items() if k in tensors and tensors[k].shape != v.shape)
    problems = [f"{what}: {', '.join(items)}" for what, items in
                (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped)) if items]
    if problems:
        raise CheckpointError(f"{directory} does not match its config; " + "; ".join(problems))
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()}, strict=True)
    if config.calibration_curve is not None:
        try:
            model.curve = load_curve(directory / config.calibration_curve)
        except CurveError as err:
            raise CheckpointError(str(err)) from err
    if (directory / METADATA).is_file():
        model._metadata = json.loads((directory / METADATA).read_text())
    return model.eval()
