"""`python -m fastbert bench`: measured wall-clock speedup next to FLOPs speedup.

For every workload (the data file, and synthetic texts of fixed token lengths), batch size and
speed it reports accuracy, mean exit layer and FLOPs speedup (from `fastbert.evaluate`), and
the wall-clock speedup against three references timed in the same run:
  (a) the same FastBERT model at speed 0 (every layer and every classifier);
  (b) a plain `AutoModelForSequenceClassification` with the same encoder weights, fed the same
      length-sorted, pre-tokenized batches: what a user would otherwise run;
  (c) the transformers `pipeline("text-classification")` on that plain model (texts in, labels
      out; its time includes its own tokenization, so it is compared with FastBERT's model time
      plus tokenization time);
  (d) the full model as one ONNX Runtime graph, and (e) FastBERT on ONNX Runtime at every speed
      (`fastbert.tools.bench_ort`; skipped without onnxruntime).

Method: the model is timed on pre-tokenized, pre-collated batches; tokenization and collation are
timed on their own. All configurations of one (workload, batch size) run round-robin, once per
round, after one untimed warm-up each; medians of the rounds are reported.

Example:
    python -m fastbert bench --model assets/models/sst2-minilm --data ../shared/data/sst2/dev.tsv
"""
from __future__ import annotations

import copy
import json
import os
import platform
import shlex
import subprocess
import sys
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Sequence

import torch

from ..data import load_dataset
from ..evaluate import all_layer_outputs, outcome_at
from ..inference import adaptive_forward
from ..uncertainty import get_criterion
from .bench_config import BenchConfig
from .bench_timing import Workload, build_workloads, interleaved, median, paired_ratio


@dataclass
class SpeedRow:
    """One speed of one (workload, batch size). Times are medians, in ms per sample."""

    speed: float
    accuracy: float | None
    mean_exit_layer: float
    flops_speedup: float
    ms_per_sample: float
    repeats: int
    # Speedups: medians over rounds of the ratio of the two runs' times in the same round
    # (`paired_ratio`), not ratios of the medians.
    vs_speed0: float  # (a) time / this time
    vs_plain: float  # (b) time / this time
    vs_pipeline: float | None  # (c) time / (this time + tokenization time)
    exit_mismatches: int  # timed run's exits that differ from fastbert.evaluate's (expected 0)
    ort_ms: float | None = None  # (e) at this speed, ms per sample
    vs_ort_full: float | None = None  # (d) time / (e) time

    @property
    def wall_over_flops(self) -> float:
        """Wall-clock speedup against the plain model over FLOPs speedup (FLOPs are counted
        against that same full model)."""
        return self.vs_plain / self.flops_speedup


@dataclass
class GroupResult:
    """All configurations of one workload at one batch size, timed round-robin together."""

    workload: str
    batch_size: int
    samples: int
    mean_tokens: float
    tokenize_ms: float  # model.tokenize, per sample
    collate_ms: float  # length sort + padding into tensors, per sample
    plain_ms: float  # reference (b), per sample
    pipeline_ms: float | None  # reference (c), per sample, tokenization included
    repeats: dict[str, int]
    rows: list[SpeedRow]
    ort_full_ms: float | None = None  # reference (d), per sample

    def row(self, speed: float) -> SpeedRow:
        return next(r for r in self.rows if r.speed == speed)

    @property
    def speed0_over_plain(self) -> float:
        """Speed 0's time over (b)'s, paired by round (the inverse of speed 0's vs_plain)."""
        return 1.0 / self.row(0.0).vs_plain


@dataclass
class BenchResult:
    config: dict
    command: str
    machine: dict
    groups: list[GroupResult]
    app: dict | None
    notes: list[str]

    def to_dict(self) -> dict:
        return asdict(self)


# ----- the references ------------------------------------------------------------------------
def plain_classifier(model):
    """Reference (b): `AutoModelForSequenceClassification` built from the FastBERT backbone's
    config, with the same encoder weights. Its own head (pooler + linear) is untrained: it is a
    timing reference, its predictions mean nothing.

    >>> hf = plain_classifier(model)                                          # doctest: +SKIP
    >>> hf(input_ids=ids, attention_mask=mask).logits.shape                   # doctest: +SKIP
    torch.Size([B, num_labels])
    """
    from transformers import AutoModelForSequenceClassification

    from ..backbone import quiet_transformers

    config = copy.deepcopy(model.encoder.config)
    config.num_labels = model.config.num_labels
    config.id2label = dict(enumerate(model.config.labels))
    config.label2id = {name: i for i, name in enumerate(model.config.labels)}
    with quiet_transformers():
        hf = AutoModelForSequenceClassification.from_config(config, trust_remote_code=False)
    weights = model.encoder.model.state_dict()
    missing, unexpected = hf.base_model.load_state_dict(weights, strict=False)
    # FastBERT drops the backbone's pooler; everything else must be copied.
    bad = [k for k in missing if not k.startswith("pooler.")]
    if unexpected or bad:
        raise RuntimeError(f"encoder weights do not fit the plain model: missing {bad}, unexpected {unexpected}")
    return hf.to(device=model.device, dtype=next(model.parameters()).dtype).eval()


def text_pipeline(model, hf):
    """Reference (c): transformers' text-classification pipeline on the plain model."""
    from transformers import pipeline

    from ..backbone import quiet_transformers

    with quiet_transformers():
        return pipeline("text-classification", model=hf, tokenizer=model.tokenizer, device=model.device)


def pipeline_inputs(texts: Sequence) -> list:
    return [{"text": t[0], "text_pair": t[1]} if isinstance(t, tuple) else t for t in texts]


def _ort_speed(model, runner, chunks, speed, criterion, bs, temps=None) -> list:
    """(e): what `predict` runs on ONNX Runtime (the loop's torch work on one thread)."""
    with runner.loop_threads():
        return [adaptive_forward(model, *c, speed, criterion, bs, temps, runner=runner) for c in chunks]


# ----- one group -----------------------------------------------------------------------------
def measure_group(model, hf, pipe, work: Workload, cfg: BenchConfig, log=print, ort=None) -> GroupResult:
    """Time every configuration of one workload round-robin and summarise them."""
    texts, bs, n = work.data.texts, work.batch_size, len(work.data)
    criterion = get_criterion(model.config.exit_criterion, model.config.patience)
    # Timed runs take the exits that the reported accuracy and FLOPs come from.
    temps = model.config.temperatures if cfg.calibrated else None
    enc = model.tokenize(texts)
    # The plain model runs length-sorted batches; FastBERT runs chunks of such batches as
    # `predict` does (the survivors regrouped between layers).
    batches = [model.collate(enc, rows) for rows in model.batch_order(enc, bs, pool=1)]
    chunk_rows = model.batch_order(enc, bs)
    chunks = [model.collate(enc, rows) for rows in chunk_rows]
    send_types = model.encoder.uses_token_types
    last: dict[str, list] = {}

    @torch.inference_mode()
    def run_plain():
        for ids, mask, types in batches:
            hf(input_ids=ids, attention_mask=mask, token_type_ids=types if send_types else None).logits.softmax(-1).cpu()

    def fastbert_run(speed):
        def run():
            last[f"speed {speed:g}"] = [adaptive_forward(model, *c, speed, criterion, bs, temps) for c in chunks]
        return run

    runs: dict[str, Callable[[], object]] = {f"speed {s:g}": fastbert_run(s) for s in cfg.speeds}
    runs["plain"] = run_plain
    if pipe is not None:
        inputs = pipeline_inputs(texts)
        max_length = model.config.max_length
        runs["pipeline"] = lambda: pipe(inputs, batch_size=bs, truncation=True, max_length=max_length)
    if ort is not None:
        runs["ort full"] = ort.full_run(batches)
        for s in cfg.speeds:
            runs[f"ort speed {s:g}"] = partial(_ort_speed, model, ort.runner, chunks, s, criterion, bs, temps)
    runs["tokenize"] = lambda: model.tokenize(texts)
    runs["collate"] = lambda: [model.collate(enc, rows) for rows in model.batch_order(enc, bs)]
    log(f"  {work.name}, batch {bs}: {len(runs)} configurations round-robin ...")
    times = interleaved(runs, cfg.repeats, cfg.min_repeats, cfg.seconds_per_config)
    ms = {name: 1000.0 * median(t) / n for name, t in times.items()}

    # Accuracy, exits and FLOPs come from the library, from one all-layers pass.
    outputs = all_layer_outputs(model, work.data, calibrated=cfg.calibrated)
    rows = [_speed_row(model, outputs, s, criterion, times, [tr.exit_layer for tr in last[f"speed {s:g}"]], chunk_rows)
            for s in cfg.speeds]
    mean_tokens = float(outputs.num_tokens.double().mean())
    return GroupResult(work.name, bs, n, mean_tokens, ms["tokenize"], ms["collate"], ms["plain"],
                       ms.get("pipeline"), {k: len(v) for k, v in times.items()}, rows, ms.get("ort full"))


def _speed_row(model, outputs, speed, criterion, times, timed_exits, chunk_rows) -> SpeedRow:
    """One speed's row: the library's outcome at that speed (`outcome_at`) beside its timings;
    the timed run's exits (one tensor per chunk of rows) are checked against the outcome's."""
    name, n = f"speed {speed:g}", outputs.num_tokens.numel()
    outcome = outcome_at(model, outputs, speed, criterion)
    summary = outcome.summary(outputs.labels, model.num_layers)
    timed_exit = torch.empty(n, dtype=torch.long)
    for r, exits in zip(chunk_rows, timed_exits):
        timed_exit[r] = exits
    ms = 1000.0 * median(times[name]) / n
    return SpeedRow(
        speed=speed, accuracy=summary.accuracy, mean_exit_layer=summary.mean_exit_layer,
        flops_speedup=summary.flops_speedup, ms_per_sample=ms, repeats=len(times[name]),
        vs_speed0=paired_ratio(times, "speed 0", name), vs_plain=paired_ratio(times, "plain", name),
        vs_pipeline=paired_ratio(times, "pipeline", [name, "tokenize"]) if "pipeline" in times else None,
        exit_mismatches=int((timed_exit != outcome.exit_layer).sum()),
        ort_ms=1000.0 * median(times["ort " + name]) / n if "ort " + name in times else None,
        vs_ort_full=paired_ratio(times, "ort full", "ort " + name) if "ort full" in times else None)


# ----- machine, app, report ------------------------------------------------------------------
def describe_machine(device: str = "cpu") -> dict:
    """CPU model, cores, torch threads, load average, library versions."""
    import transformers

    cpu, cores = platform.processor() or "unknown", set()
    try:
        physical = None
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key, value = key.strip(), value.strip()
            if key == "model name":
                cpu = value
            elif key == "physical id":
                physical = value
            elif key == "core id":
                cores.add((physical, value))
    except OSError:
        pass
    out = {"cpu": cpu, "logical_cpus": os.cpu_count(), "physical_cores": len(cores) or None,
           "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
           "torch_threads": torch.get_num_threads(), "torch_interop_threads": torch.get_num_interop_threads(),
           "load_average": [round(x, 2) for x in os.getloadavg()], "python": platform.python_version(),
           "torch": torch.__version__, "transformers": transformers.__version__, "device": device}
    if device.startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name(torch.device(device))
    return out


def run_app_benchmark(cfg: BenchConfig, log=print) -> dict:
    """Run the app latency script (`cfg.app_latency_script`, a subprocess that launches the
    app.py beside it) and return its JSON."""
    script = cfg.app_latency_script
    cmd = [sys.executable, str(script), "--model", cfg.model, "--requests", str(cfg.app_requests),
           "--clients", str(cfg.app_clients), "--json"]
    if cfg.data:
        cmd += ["--data", cfg.data]
    if cfg.threads:
        cmd += ["--threads", str(cfg.threads)]
    log("  app: " + shlex.join(cmd))
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if done.returncode != 0:
        return {"error": (done.stderr or done.stdout).strip().splitlines()[-1:] or ["failed"]}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_bench(cfg: BenchConfig, command: str = "", log=print) -> BenchResult:
    """Load the model and data, measure every group, then the app. See the module docstring."""
    threads_before = torch.get_num_threads()
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    try:
        return _run_bench(cfg, command, log)
    finally:
        torch.set_num_threads(threads_before)  # a caller's setting outlives the benchmark


def _run_bench(cfg: BenchConfig, command: str, log) -> BenchResult:
    from ..model import FastBert

    cfg.check_files()
    machine = describe_machine(cfg.device)
    model = FastBert.from_pretrained(cfg.model).to(cfg.device).eval()
    data = load_dataset(cfg.data) if cfg.data else None
    hf = plain_classifier(model)
    pipe = text_pipeline(model, hf) if cfg.pipeline else None
    ort = None
    if cfg.onnxruntime:
        from .bench_ort import build_contenders

        ort = build_contenders(model, cfg.threads, log)
    notes = [
        "(b) and (c) share FastBERT's encoder weights but have the standard untrained pooler + linear "
        "head: they are timing references; their accuracy is not reported.",
        "Model times are on pre-tokenized, pre-collated batches (length-sorted, as `FastBert.predict` "
        "batches). (c) is texts in, labels out, in data order, so its time includes tokenization; "
        "its speedup column divides by FastBERT's model time plus tokenization time.",
        "Wall/FLOPs = (wall-clock speedup against (b)) / FLOPs speedup; both count against the "
        "full model.",
        "ms / sample is the median over rounds; every × column (and speed 0 / (b)) is the median over "
        "rounds of the ratio of the two runs' times in the same round, which cancels the machine's slow "
        "drifts (so it need not equal the ratio of the ms columns).",
    ]
    if data is not None and 1 in cfg.batch_sizes and 0 < cfg.b1_samples < len(data):
        notes.append(f"Batch 1 on the data file runs on {cfg.b1_samples} evenly spaced rows of {len(data)} "
                     "(to keep the run short).")
    if data is not None and any(b > 1 for b in cfg.batch_sizes) and 0 < cfg.data_samples < len(data):
        notes.append(f"Batch sizes above 1 on the data file run on {cfg.data_samples} evenly spaced rows of "
                     f"{len(data)}.")
    if ort is not None:
        notes.append("(d) and (e) run on ONNX Runtime "
                     f"{__import__('onnxruntime').__version__}, CPU provider, {ort.runner.options.threads or cfg.threads} "
                     "intra-op threads per session, spinning off, graph optimisation 'all'; (d) is one graph "
                     "(all layers, the teacher, softmax), (e) one session per segment. × vs (d) is (d)'s time / "
                     "(e)'s, paired by round.")
    groups = [measure_group(model, hf, pipe, w, cfg, log, ort) for w in build_workloads(cfg, model, data)]
    if any(r.exit_mismatches for g in groups for r in g.rows):
        notes.append("Some timed exits differ from fastbert.evaluate's decisions (see exit_mismatches in "
                     "the JSON): batched float differences at the threshold.")
    app = run_app_benchmark(cfg, log) if cfg.app else None
    machine["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    return BenchResult(asdict(cfg), command, machine, groups, app, notes)
