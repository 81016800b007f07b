"""Self-contained model directories: config.json, model.safetensors, tokenizer files.

Loading is strict: a weight that is missing, unexpected or of the wrong shape is an error
that names it (never a silent `strict=False`). A model directory is data, never code: no
Python file in it runs (`trust_remote_code=False`), no pickle is read (safetensors only), and
`base_weights.json` may point only at a known backbone alias or a file inside the directory.
Shapes and the layer count are checked against the file headers before any tensor is allocated.
An int8 checkpoint holds `NAME.int8_scale` tensors beside its int8 matrices (fastbert.int8_storage).
"""
from __future__ import annotations

import json
import logging
import re
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from .backbone import PACKAGE_BACKBONES, LayerwiseEncoder, resolve_backbone
from .calibration import CURVE_FILE, CurveError, load_curve, save_curve
from .config import FastBertConfig
from . import int8_storage

WEIGHTS = "model.safetensors"
BASE_WEIGHTS = "base_weights.json"
METADATA = "training.json"


CALIBRATE_COMMAND = "python -m fastbert calibrate "


class CheckpointError(ValueError):
    """A model directory that does not match the model it describes."""


def command_chain(record: dict) -> list[str]:
    """Every command that made a model, oldest first, from its training.json: the recorded chain
    (`train --init` runs, ship and calibrate steps) when there is one, else its one command."""
    return list(record.get("commands") or ([record["command"]] if record.get("command") else []))


def without_calibration(commands: list[str]) -> list[str]:
    """The chain less its `calibrate` steps: what made the weights (a new calibration replaces
    the last one, and `train --init` drops the temperatures)."""
    return [c for c in commands if not c.startswith(CALIBRATE_COMMAND)]


def read_record(directory: str | Path) -> dict | None:
    """A model directory's training.json (None if it has none); a broken one is a CheckpointError."""
    path = Path(directory) / METADATA
    return _read_json(path) if path.is_file() else None


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
    if base_weights is not None and base_weights not in PACKAGE_BACKBONES:
        # Loading reads base weights only from a package alias (a directory elsewhere could
        # hold anything), so the directory stays self-contained instead.
        warnings.warn(f"base_weights={base_weights!r} is not one of the backbone aliases "
                      f"{sorted(PACKAGE_BACKBONES)}; every weight is stored in {WEIGHTS}")
        base_weights = None
    if base_weights is not None:
        base = _base_state(base_weights)
        left_out = sorted(k for k, v in state.items()
                          if k in base and base[k].shape == v.shape and torch.equal(base[k], v.cpu()))
    kept = {k: v for k, v in state.items() if k not in left_out}
    if dtype == torch.int8:  # the layers' weight matrices as int8 + group scales, the rest float16
        tensors = int8_storage.storage_tensors(kept)
    else:
        tensors = {k: (v.detach().to(dtype) if v.is_floating_point() else v.detach()).cpu().contiguous()
                   for k, v in kept.items()}
    save_file(tensors, str(directory / WEIGHTS), metadata={"format": "pt"})
    model.config.calibration_curve = None if model.curve is None else (model.config.calibration_curve or CURVE_FILE)
    if model.curve is not None:
        save_curve(model.curve, directory / model.config.calibration_curve)
    model.config.save(directory / "config.json")
    for name in TOKENIZER_FILES:
        (directory / name).unlink(missing_ok=True)
    written = model.tokenizer.save_pretrained(str(directory))
    shared_tokenizer = bool(left_out) and _same_tokenizer(directory, base_weights)
    if shared_tokenizer:  # the backbone's own: read from it at load time, like the left-out weights
        for name in written:
            if Path(name).name in TOKENIZER_FILES:
                Path(name).unlink(missing_ok=True)
    (directory / BASE_WEIGHTS).unlink(missing_ok=True)
    if left_out:
        spec = {"source": base_weights, "tensors": left_out, **({"tokenizer": True} if shared_tokenizer else {})}
        (directory / BASE_WEIGHTS).write_text(json.dumps(spec, indent=1))
    if metadata is not None:
        (directory / METADATA).write_text(json.dumps(metadata, indent=2) + "\n")


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def _same_tokenizer(directory: Path, source: str) -> bool:
    """Whether the tokenizer.json just written equals the backbone's (the same tokenizer)."""
    theirs = Path(resolve_backbone(source)) / "tokenizer.json"
    return theirs.is_file() and json.loads(theirs.read_text()) == json.loads((directory / "tokenizer.json").read_text())


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


@dataclass
class BaseWeights:
    """base_weights.json: tensors left out of model.safetensors and where to read them."""

    source: str  # a key of PACKAGE_BACKBONES, or a .safetensors file inside the model directory
    tensors: list[str]
    tokenizer: bool = False  # the tokenizer is the source backbone's (an alias only)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path}: not valid JSON ({err})") from err


def _read_base_spec(directory: Path) -> BaseWeights | None:
    path = directory / BASE_WEIGHTS
    if not path.is_file():
        return None
    spec = _read_json(path)
    tensors = spec.get("tensors") if isinstance(spec, dict) else None
    if not isinstance(tensors, list) or not all(isinstance(t, str) for t in tensors):
        raise CheckpointError(f"{path}: tensors: a list of tensor names, got {tensors!r}")
    source, tokenizer = spec.get("source"), spec.get("tokenizer", False)
    if not isinstance(tokenizer, bool) or (tokenizer and source not in PACKAGE_BACKBONES):
        raise CheckpointError(f"{path}: tokenizer: true only with a backbone alias as source, got {tokenizer!r}")
    if isinstance(source, str) and source in PACKAGE_BACKBONES:
        return BaseWeights(source, tensors, tokenizer)
    if isinstance(source, str) and source.endswith(".safetensors"):
        # resolve(): neither "../" nor a symbolic link may lead out of the directory.
        file = (directory / source).resolve()
        if file.is_file() and file.is_relative_to(directory.resolve()):
            return BaseWeights(source, tensors)
    raise CheckpointError(
        f"{path}: source: one of the backbone aliases {sorted(PACKAGE_BACKBONES)} or a .safetensors file "
        f"inside {directory}, got {source!r}")


def _safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Tensor names and shapes from a safetensors header (nothing is allocated)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            return int8_storage.storage_shapes({k: tuple(f.get_slice(k).get_shape()) for k in f.keys()})
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from err


def _load_safetensors(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path}: not a readable safetensors file ({err})") from err
    try:
        return int8_storage.dequantize(tensors)
    except ValueError as err:
        raise CheckpointError(f"{path}: {err}") from err


def _base_tensors(directory: Path, spec: BaseWeights) -> dict[str, torch.Tensor]:
    if spec.source in PACKAGE_BACKBONES:
        base = _base_state(spec.source)
    else:
        base = _load_safetensors(directory / spec.source)
    absent = [k for k in spec.tensors if k not in base]
    if absent:
        raise CheckpointError(f"{directory / BASE_WEIGHTS}: source {spec.source!r} lacks tensors {absent[:5]}")
    return {k: base[k] for k in spec.tensors}


LAYER_INDEX = re.compile(r"^encoder\.model\.encoder\.layer\.(\d+)\.")


def _check_layer_count(config_path: Path, backbone_config: dict, names) -> None:
    """num_hidden_layers must be the layers the weights hold: checked from tensor names alone,
    before an encoder of that many layers is built."""
    layers = backbone_config.get("num_hidden_layers")
    held = sorted({int(m.group(1)) for k in names if (m := LAYER_INDEX.match(k))})
    if isinstance(layers, bool) or not isinstance(layers, int) or held != list(range(layers)):
        raise CheckpointError(f"{config_path}: backbone_config.num_hidden_layers is {layers!r}, but the "
                              f"weights hold {len(held)} layers")


class _NotMistral(logging.Filter):
    """Drops one transformers 5 warning while a model directory's tokenizer loads. transformers
    treats a local tokenizer whose config.json has neither `transformers_version` nor
    `model_type` (a FastBERT config.json has neither) as possibly Mistral's, and warns of "an
    incorrect regex pattern" without changing anything: a false alarm for every tokenizer saved
    as a plain `tokenizers` backend (the multilingual-e5-small one)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "incorrect regex pattern" not in record.getMessage()


def _load_tokenizer(directory: Path):
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer

    try:
        Tokenizer.from_file(str(directory / "tokenizer.json"))
    except Exception as err:  # tokenizers raises a bare Exception for a malformed file
        raise CheckpointError(f"{directory / 'tokenizer.json'}: not a readable tokenizer ({err})") from err
    config_path = directory / "tokenizer_config.json"
    tokenizer_config = _read_json(config_path) if config_path.is_file() else {}
    quiet = _NotMistral()
    logger = logging.getLogger("transformers.tokenization_utils_tokenizers")
    logger.addFilter(quiet)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return AutoTokenizer.from_pretrained(str(directory), trust_remote_code=False)
    except Exception as err:  # an unknown tokenizer_class, a refused auto_map, ...
        if isinstance(tokenizer_config, dict) and "auto_map" in tokenizer_config:
            raise CheckpointError(f"{config_path}: tokenizer_class/auto_map: the tokenizer needs Python code "
                                  "from the model directory, and a model directory's code is never run") from err
        raise CheckpointError(f"{config_path}: the tokenizer could not be built "
                              f"({type(err).__name__}: {' '.join(str(err).split())[:300]})") from err
    finally:
        logger.removeFilter(quiet)


def _build(cls, config: FastBertConfig, tokenizer, config_path: Path):
    try:
        return cls(config, LayerwiseEncoder.from_config(config.backbone_config), tokenizer)
    except (ValueError, TypeError, KeyError, AttributeError) as err:
        raise CheckpointError(f"{config_path}: backbone_config: {type(err).__name__}: {err}") from err


def _check_shapes(directory: Path, skeleton, shapes: dict[str, tuple[int, ...]]) -> None:
    expected = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    missing = sorted(set(expected) - set(shapes))
    unexpected = sorted(set(shapes) - set(expected))
    misshaped = sorted(f"{k}: file {shapes[k]} vs model {v}"
                       for k, v in expected.items() if k in shapes and shapes[k] != v)
    problems = [f"{what}: {', '.join(items[:5])}" + (f" and {len(items) - 5} more" if len(items) > 5 else "")
                for what, items in (("missing", missing), ("unexpected", unexpected), ("mis-shaped", misshaped))
                if items]
    if problems:
        raise CheckpointError(f"{directory} does not match its config; " + "; ".join(problems))


def _check_max_length(config_path: Path, config: FastBertConfig, encoder: LayerwiseEncoder) -> None:
    if config.max_length > encoder.max_tokens:
        raise CheckpointError(
            f"{config_path}: max_length: at most {encoder.max_tokens} (special tokens included) for this "
            f"backbone's {encoder.config.max_position_embeddings} position embeddings, got {config.max_length}")


def load_checkpoint(cls, directory_or_hub_id: str | Path):
    directory = resolve_model_dir(directory_or_hub_id)
    for name in ("config.json", WEIGHTS):
        if not (directory / name).is_file():
            raise FileNotFoundError(f"{directory} is not a FastBERT model directory: {name} is missing")
    spec = _read_base_spec(directory)
    tokenizer_dir = Path(resolve_backbone(spec.source)) if spec and spec.tokenizer else directory
    if not (tokenizer_dir / "tokenizer.json").is_file():
        raise FileNotFoundError(f"{directory} is not a FastBERT model directory: tokenizer.json is missing")
    config_path = directory / "config.json"
    try:
        config = FastBertConfig.load(config_path)
    except ValueError as err:
        raise CheckpointError(str(err)) from err
    if not config.backbone_config:
        raise CheckpointError(f"{config_path}: backbone_config is missing")
    shapes = _safetensors_shapes(directory / WEIGHTS)
    _check_layer_count(config_path, config.backbone_config, [*shapes, *(spec.tensors if spec else [])])
    tokenizer = _load_tokenizer(tokenizer_dir)
    base = _base_tensors(directory, spec) if spec else {}
    with torch.device("meta"):  # shapes only: a wrong size never allocates
        skeleton = _build(cls, replace(config), tokenizer, config_path)  # a copy: __init__ edits it
    _check_shapes(directory, skeleton, {**shapes, **{k: tuple(v.shape) for k, v in base.items()}})
    _check_max_length(config_path, config, skeleton.encoder)
    model = _build(cls, config, tokenizer, config_path)
    tensors = {**_load_safetensors(directory / WEIGHTS), **base}
    bad = sorted(k for k, v in tensors.items() if v.is_floating_point() and not torch.isfinite(v).all())
    if bad:
        raise CheckpointError(f"{directory / WEIGHTS}: NaN or infinite values in {', '.join(bad[:5])}")
    expected = model.state_dict()
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in tensors.items()}, strict=True)
    if config.calibration_curve is not None:
        try:
            model.curve = load_curve(directory / config.calibration_curve)
        except CurveError as err:
            raise CheckpointError(str(err)) from err
    if (directory / METADATA).is_file():
        model._metadata = _read_json(directory / METADATA)
    return model.eval()
