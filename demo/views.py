"""What the app shows, computed from the library's results; no Gradio and no plotting here.

Every layer is computed once per text (`predict(..., compute_all=True)`) or per batch
(`evaluate.all_layer_outputs`). A new speed only re-decides the exits, labels and FLOPs with
one library call, `fastbert.evaluate.outcome_at` (`decide_exits` over the stacked layer
probabilities, priced by `model.cost`). So the slider never runs the backbone again, and no
number here has a second formula.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import torch

from fastbert import normalized_entropy, speedup
from fastbert.speedup import saved_fraction
from fastbert.data import TextDataset
from fastbert.evaluate import EvalResult, LayerOutputs, all_layer_outputs, outcome_at, sweep

from .inputs import BatchInput, Text, check_speed, check_text
from .models import LoadedModel

SWEEP_SPEEDS = [round(0.05 * i, 2) for i in range(21)]
TIMING_RUNS = 5  # each side of the latency card is the median of this many runs


def text_of(text: Text) -> str:
    """A sentence pair shown as one line."""
    return text if isinstance(text, str) else f"{text[0]} ||| {text[1]}"


# ----- one text ---------------------------------------------------------------------------
@dataclass
class TextRun:
    """One text with every layer computed once, and the measured adaptive run.

    Example:
        >>> run = run_text(loaded, "a fine film", speed=0.5)            # doctest: +SKIP
        >>> text_view(loaded, run, speed=0.9).exit_layer <= text_view(loaded, run, 0.1).exit_layer  # doctest: +SKIP
        True
    """

    model_name: str
    text: str
    labels: list[str]
    layer_probs: list[list[float]]  # (L, C) class probabilities of every layer
    num_tokens: int  # tokens the model read
    input_tokens: int  # tokens of the text before truncation
    max_length: int
    timed_speed: float  # the speed of the measured adaptive run
    adaptive_ms: list[float]  # wall-clock of each predict([text], timed_speed): batch 1, early exit
    all_layers_ms: list[float]  # wall-clock of each predict([text], compute_all=True): every layer
    timed_exit_layer: int  # exit layer of the measured adaptive run

    @property
    def adaptive_median_ms(self) -> float:
        return statistics.median(self.adaptive_ms)

    @property
    def all_layers_median_ms(self) -> float:
        return statistics.median(self.all_layers_ms)

    @property
    def truncated(self) -> bool:
        return self.input_tokens > self.num_tokens

    @property
    def num_layers(self) -> int:
        return len(self.layer_probs)


def run_text(loaded: LoadedModel, text: str, speed: float, repeats: int = TIMING_RUNS) -> TextRun:
    """Classify `text` adaptively and with all layers (for the charts and the slider), each
    timed `repeats` times, interleaved so that a busy moment of the CPU hits both sides."""
    text = check_text(text)
    speed = check_speed(speed)
    model = loaded.model
    adaptive_ms, all_ms = [], []
    enc = model.tokenize([text])  # once, outside the lock; the timings are the model's runs
    with loaded.lock:
        for _ in range(max(1, repeats)):
            start = time.perf_counter()
            adaptive = model.predict([text], speed=speed, batch_size=1, encodings=enc)[0]
            mid = time.perf_counter()
            full = model.predict([text], speed=speed, batch_size=1, compute_all=True, encodings=enc)[0]
            adaptive_ms.append(1000 * (mid - start))
            all_ms.append(1000 * (time.perf_counter() - mid))
    return TextRun(loaded.name, text, list(loaded.labels), full.all_layer_probs, full.num_tokens,
                   full.input_tokens, model.config.max_length, speed, adaptive_ms, all_ms, adaptive.exit_layer)


@dataclass
class TextView:
    """One text at one speed."""

    speed: float
    exit_layer: int  # 1-based
    num_layers: int
    label: str
    confidence: float
    probs: list[float]  # of the exit layer
    layer_probs: list[list[float]]  # (L, C), including layers after the exit
    uncertainties: list[float]  # (L,), including layers after the exit
    flops: float
    full_flops: float
    speedup: float

    @property
    def saved(self) -> float:
        return saved_fraction(self.full_flops, self.flops)


def text_view(loaded: LoadedModel, run: TextRun, speed: float) -> TextView:
    """Re-decide the exit of an already computed text for `speed` (no backbone run)."""
    speed = check_speed(speed)
    probs = torch.tensor(run.layer_probs, dtype=torch.float32).unsqueeze(1)  # (L, 1, C)
    out = outcome_at(loaded.model, LayerOutputs(probs, torch.tensor([run.num_tokens]), None), speed,
                     loaded.criterion)
    k, label_id = int(out.exit_layer[0]), int(out.label_id[0])
    final = run.layer_probs[k - 1]
    flops, full = float(out.flops[0]), float(out.full_flops[0])
    return TextView(speed, k, run.num_layers, run.labels[label_id], final[label_id], final,
                    run.layer_probs, normalized_entropy(probs[:, 0]).tolist(),
                    flops, full, speedup(full, flops))


# ----- a batch ----------------------------------------------------------------------------
@dataclass
class BatchRun:
    """A batch with every layer computed once, and its speed sweep."""

    model_name: str
    source: str
    texts: list[Text]
    raw_labels: list[str] | None  # as given, even when they do not match the model
    outputs: LayerOutputs  # layer_probs (L, N, C), num_tokens (N,), labels (N,) or None
    labels: list[str]  # the model's label names
    label_note: str  # why there is no accuracy, or how numeric labels were read
    seconds: float  # wall-clock of the all-layers pass
    sweep: list[EvalResult]  # SWEEP_SPEEDS, from the same pass
    truncated: int = 0  # texts longer than the model reads (cut to max_length tokens)

    @property
    def num_layers(self) -> int:
        return int(self.outputs.layer_probs.shape[0])

    @property
    def has_labels(self) -> bool:
        return self.outputs.labels is not None


@dataclass
class LabelMatch:
    """A label column read against a model's classes: ids (None: no accuracy) and a note
    saying why there is no accuracy, or how numeric labels were read."""

    ids: list[int] | None
    note: str


def match_labels(raw: list[str] | None, names: list[str]) -> LabelMatch:
    """Labels are the model's label names, or numeric ids covering every class 0..C-1;
    anything else (e.g. SST-2's 0/1 on a four-class news model) gives no accuracy and says why.

    >>> match_labels(["1", "0"], ["negative", "positive"]).ids
    [1, 0]
    >>> match_labels(["0", "1"], ["World", "Sports", "Business", "Sci/Tech"]).ids is None
    True
    """
    if raw is None:
        return LabelMatch(None, "no label column, so no accuracy")
    index = {name: i for i, name in enumerate(names)}
    ids_text = ", ".join(f"{i} = {name}" for i, name in enumerate(names))
    if all(r in index for r in raw):
        return LabelMatch([index[r] for r in raw], "")
    found = sorted(set(raw), key=lambda v: (len(v), v))
    shown = ", ".join(repr(v) for v in found[:6]) + (", …" if len(found) > 6 else "")
    if all(r.lstrip("-").isdigit() for r in raw):
        ids = [int(r) for r in raw]
        if set(ids) == set(range(len(names))):
            return LabelMatch(ids, f"numeric labels read as this model's class ids: {ids_text}")
        return LabelMatch(None, f"labels not used, so no accuracy: the file's labels {shown} are not this "
                                f"model's class ids (every one of {ids_text}); use the label names "
                                f"{', '.join(names)}")
    return LabelMatch(None, f"labels not used, so no accuracy: the file's labels {shown} are not this model's "
                            f"labels ({', '.join(names)}) nor its class ids ({ids_text})")


def run_batch(loaded: LoadedModel, batch: BatchInput, batch_size: int = 32) -> BatchRun:
    """Every layer's probabilities for a batch (one pass), and accuracy/speedup at many speeds."""
    model = loaded.model
    match = match_labels(batch.raw_labels, list(loaded.labels))
    data = TextDataset(list(batch.texts), None, batch.source)
    enc = model.tokenize(data.texts)  # outside the lock: other users wait only for the layers
    input_tokens = torch.tensor(enc["input_tokens"])
    with loaded.lock:
        start = time.perf_counter()
        outputs = all_layer_outputs(model, data, batch_size=batch_size, encodings=enc)
        seconds = time.perf_counter() - start
    if match.ids is not None:
        outputs.labels = torch.tensor(match.ids)
    results = sweep(model, outputs, SWEEP_SPEEDS, loaded.criterion)
    truncated = int((input_tokens > outputs.num_tokens).sum())
    return BatchRun(loaded.name, batch.source, list(batch.texts), batch.raw_labels, outputs,
                    list(loaded.labels), match.note, seconds, results, truncated)


@dataclass
class BatchView:
    """A batch at one speed: the library's summary plus each sample's exit."""

    speed: float
    result: EvalResult
    exit_layer: list[int]  # (N,) 1-based
    predicted: list[str]
    confidence: list[float]
    uncertainty: list[float]  # at each sample's exit layer
    flops: list[float]  # per sample
    full_flops: list[float]

    @property
    def total_flops(self) -> float:
        return sum(self.flops)

    @property
    def total_full_flops(self) -> float:
        return sum(self.full_flops)

    @property
    def saved(self) -> float:
        return saved_fraction(self.total_full_flops, self.total_flops)


def batch_view(loaded: LoadedModel, run: BatchRun, speed: float) -> BatchView:
    """The batch at `speed`: one library decision (`outcome_at`), no backbone run."""
    speed = check_speed(speed)
    out = outcome_at(loaded.model, run.outputs, speed, loaded.criterion)
    return BatchView(speed, out.summary(run.outputs.labels, run.num_layers), out.exit_layer.tolist(),
                     [run.labels[i] for i in out.label_id.tolist()], out.probs.max(-1).values.tolist(),
                     out.uncertainty.tolist(), out.flops.tolist(), out.full_flops.tolist())


def batch_table(run: BatchRun, view: BatchView):
    """Rows of (text, label, confidence, exit layer, uncertainty[, true label, correct])."""
    import pandas as pd

    table = pd.DataFrame({
        "text": [text_of(t) for t in run.texts],
        "label": view.predicted,
        "confidence": [round(c, 4) for c in view.confidence],
        "exit layer": view.exit_layer,
        "uncertainty": [round(u, 4) for u in view.uncertainty],
    })
    if run.has_labels:
        truth = [run.labels[i] for i in run.outputs.labels.tolist()]
        table["true label"] = truth
        table["correct"] = [p == t for p, t in zip(view.predicted, truth)]
    return table


# ----- the paper's Figure 2, one layer at a time ------------------------------------------------
@dataclass
class LayerStep:
    """Layer `layer` of the shrinking batch: who runs it, who leaves after it."""

    layer: int  # 1-based
    num_layers: int
    speed: float
    running: list[int]  # samples that run this layer
    leaving: list[int]  # those whose exit is this layer
    uncertainty: list[float]  # of the running samples, at this layer (same order as `running`)
    running_per_layer: list[int]  # how many samples run layers 1..L

    @property
    def staying(self) -> list[int]:
        left = set(self.leaving)
        return [i for i in self.running if i not in left]


def layer_step(run: BatchRun, view: BatchView, layer: int) -> LayerStep:
    L = run.num_layers
    layer = max(1, min(L, int(layer)))
    exits = torch.tensor(view.exit_layer)
    running = (exits >= layer).nonzero().squeeze(1).tolist()
    leaving = (exits == layer).nonzero().squeeze(1).tolist()
    unc = run.outputs.uncertainties[layer - 1]
    return LayerStep(layer, L, view.speed, running, leaving, [float(unc[i]) for i in running],
                     [int((exits >= i).sum()) for i in range(1, L + 1)])


# ----- teaching: LUHA and self-distillation --------------------------------------------------
@dataclass
class LayerAgreement:
    """Per layer: how often the student agrees with the teacher, and its accuracy with labels."""

    agreement: list[float]
    accuracy: list[float] | None


def layer_agreement(run: BatchRun) -> LayerAgreement:
    pred = run.outputs.layer_probs.argmax(-1)  # (L, N)
    agree = (pred == pred[-1]).double().mean(1).tolist()
    acc = None
    if run.outputs.labels is not None:
        acc = (pred == run.outputs.labels).double().mean(1).tolist()
    return LayerAgreement(agree, acc)
