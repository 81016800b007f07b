"""`python -m fastbert distill`: train a student from a FastBERT teacher with labels only,
vanilla KD or Universal-KD (IL, CG, CA), and the SST-2 report comparing them (`--report`).

The teacher is frozen, so its per-layer outputs on the training set are computed once and
kept in memory; every student and seed then trains against that cache.
"""
from __future__ import annotations

import argparse
import json
import math
import random
import shlex
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .data import TextDataset, load_dataset
from .distill import (METHODS, DistillWeights, StudentSummary, distillation_loss, lambda_heatmap,
                      save_student_summary, universal_kd_loss)
from .students import STUDENT_KINDS, bert_student, count_parameters, sequence_student
from .training import length_grouped_batches, optimizer_step

DEFAULT_LR = {"bert": 1e-4, "bilstm": 2e-3, "gated-cnn": 2e-3}


@dataclass
class DistillConfig:
    """One student and how to train it. Example: `DistillConfig(student="bert", layers=[1, 2])`.

    layers: for "bert", the 1-based teacher layers copied into the student (default: the first
    two, which already work together; copying layers 1 and 6 gave a student that stayed below
    its own first layer after an 8k-row epoch); num_layers and
    width: for "bilstm" (width = both directions) and "gated-cnn".
    """

    student: str = "bert"
    method: str = "ukd-il"
    layers: list[int] = field(default_factory=lambda: [1, 2])
    num_layers: int = 3
    width: int = 256
    embeddings: str = "teacher"  # bilstm/gated-cnn: "teacher" (frozen), "teacher-trainable", "random"
    weights: DistillWeights = field(default_factory=DistillWeights)
    epochs: float = 1.0
    batch_size: int = 32
    lr: float | None = None  # None: DEFAULT_LR of the student kind
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0
    seed: int = 0
    max_steps: int | None = None
    progress: bool = False

    def __post_init__(self):
        if isinstance(self.weights, dict):
            self.weights = DistillWeights(**self.weights)
        if self.student not in STUDENT_KINDS:
            raise ValueError(f"student: one of {STUDENT_KINDS}, got {self.student!r}")
        if self.method not in METHODS:
            raise ValueError(f"method: one of {METHODS}, got {self.method!r}")
        if self.method == "ukd-ca" and self.student == "bert":
            raise ValueError("method: ukd-ca is Universal-KD across architectures; for a BERT student use ukd-il")
        if self.method == "ukd-il" and self.student != "bert":
            raise ValueError(f"method: for a {self.student} student Universal-KD IL is ukd-ca (cross-architecture)")
        if self.method in ("ukd-il", "ukd-ca") and self.depth < 2:
            raise ValueError(f"method: {self.method} needs a student of at least 2 layers")
        if self.lr is None:
            self.lr = DEFAULT_LR[self.student]
        for name in ("epochs", "batch_size", "lr", "num_layers", "width"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name}: must be positive, got {getattr(self, name)}")

    @property
    def depth(self) -> int:
        return len(self.layers) if self.student == "bert" else self.num_layers


@dataclass
class TeacherOutputs:
    """The frozen teacher's per-layer log-probabilities on a tokenized dataset: log_probs (L, n, C)."""

    enc: dict
    log_probs: torch.Tensor
    labels: torch.Tensor | None

    @property
    def num_tokens(self) -> torch.Tensor:
        return torch.tensor([len(ids) for ids in self.enc["input_ids"]], dtype=torch.float64)


@torch.inference_mode()
def layer_log_probs(model, collate, enc: dict, batch_size: int = 64) -> torch.Tensor:
    """(L, n, C) log-probabilities of every layer's classifier of `model` (FastBert or a
    sequence student), in the order of `enc`; longest texts first for little padding."""
    was_training = model.training
    model.eval()
    n = len(enc["input_ids"])
    order = sorted(range(n), key=lambda r: -len(enc["input_ids"][r]))
    out = None
    for k in range(0, n, batch_size):
        rows = order[k:k + batch_size]
        logits = model(*collate(enc, rows), heads="all").layer_logits.float()
        if out is None:
            out = torch.empty(logits.size(0), n, logits.size(2))
        out[:, rows] = logits.log_softmax(-1).cpu()
    model.train(was_training)
    return out


def teacher_outputs(teacher, data: TextDataset, cache_file: Path | None = None) -> TeacherOutputs:
    """Tokenize `data` with the teacher's tokenizer and the teacher's per-layer outputs on it,
    read from / written to `cache_file` when given (the teacher is frozen: they never change)."""
    enc = teacher.tokenize(data.texts)
    labels = None if data.raw_labels is None else torch.tensor(data.label_ids(teacher.config.labels))
    if cache_file is not None and cache_file.is_file():
        log_probs = torch.load(cache_file)
        if log_probs.shape[:2] == (teacher.num_layers, len(data)):
            return TeacherOutputs(enc, log_probs, labels)
    log_probs = layer_log_probs(teacher, teacher.collate, enc)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        torch.save(log_probs, cache_file)
    return TeacherOutputs(enc, log_probs, labels)


def cache_path(cache_dir: str | None, teacher_dir: str, data: TextDataset) -> Path | None:
    """A file name that changes with the teacher's weights and with the exact texts."""
    if not cache_dir:
        return None
    import hashlib

    weights = Path(teacher_dir) / "model.safetensors"
    h = hashlib.sha256()
    h.update(str(Path(teacher_dir).resolve()).encode())
    h.update(str(weights.stat().st_mtime_ns if weights.is_file() else 0).encode())
    for t in data.texts:
        h.update(repr(t).encode())
    return Path(cache_dir) / f"teacher-{h.hexdigest()[:16]}.pt"


def build_student(teacher, cfg: DistillConfig):
    torch.manual_seed(cfg.seed)
    if cfg.student == "bert":
        student = bert_student(teacher, cfg.layers)
        # Frozen word embeddings stay identical to the backbone's, so a saved student can leave them out.
        student.encoder.model.embeddings.word_embeddings.weight.requires_grad_(False)
        return student
    return sequence_student(teacher, cfg.student, cfg.num_layers, cfg.width, cfg.embeddings, cfg.seed)


def train_student(student, collate, train: TeacherOutputs, cfg: DistillConfig) -> list[dict]:
    """Train `student` in place on the cached teacher outputs; returns a loss log.

    The same shape as `fastbert.training.train` (AdamW, linear warm-up/decay, clipping,
    length-grouped batches); that loop is tied to FastBERT's stages, so the distillation
    objective runs here.
    """
    from transformers import get_linear_schedule_with_warmup

    torch.manual_seed(cfg.seed)
    lengths = [len(ids) for ids in train.enc["input_ids"]]
    steps_per_epoch = math.ceil(len(lengths) / cfg.batch_size)
    total = math.ceil(cfg.epochs * steps_per_epoch)
    if cfg.max_steps is not None:
        total = min(total, cfg.max_steps)
    params = [p for p in student.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW([
        {"params": [p for p in params if p.ndim > 1], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0}], lr=cfg.lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total), total)
    student.train()
    log, step, start = [], 0, time.perf_counter()
    while step < total:
        for rows in length_grouped_batches(lengths, cfg.batch_size, cfg.seed + step // steps_per_epoch):
            ids, mask, types = collate(train.enc, rows)
            out = student(ids, mask, types, heads="all")
            teacher_logits = train.log_probs[:, rows].to(ids.device)
            loss = distillation_loss(out.layer_logits, teacher_logits, train.labels[rows].to(ids.device),
                                     cfg.method, cfg.weights)
            loss.total.backward()
            optimizer_step(params, optimizer, scheduler, cfg.max_grad_norm)
            step += 1
            if step % 50 == 0 or step == total:
                entry = {"step": step, "loss": loss.total.item(), "ce": loss.ce.item(),
                         "kd": None if loss.kd is None else loss.kd.item(),
                         "univ": None if loss.univ is None else loss.univ.item(),
                         "seconds": round(time.perf_counter() - start, 1)}
                log.append(entry)
                if cfg.progress:
                    print(json.dumps(entry), flush=True)
            if step >= total:
                break
    student.eval()
    return log


@dataclass
class RunResult:
    """Dev scores of one trained student (one method, one seed)."""

    student: str
    method: str
    seed: int
    accuracy: float
    layer_accuracy: list[float]
    flops_per_sample: float
    params: int
    params_without_word_embeddings: int
    lambdas: list[list[float]]  # (M, N) on dev, whatever the method (a diagnostic for none/kd)
    dev_l_il: float | None  # Universal-KD losses on dev (None where undefined)
    dev_l_cg: float
    train_seconds: float
    train_log: list[dict]

    def to_dict(self) -> dict:
        return asdict(self)


def word_embedding_params(student) -> int:
    emb = getattr(student, "embeddings", None)
    if hasattr(student, "encoder"):
        emb = student.encoder.model.embeddings.word_embeddings
    return emb.weight.numel()


def inference_flops(student, num_tokens: torch.Tensor) -> torch.Tensor:
    """FLOPs of the student's full forward pass (no early exit) per sample."""
    if hasattr(student, "cost"):  # FastBert: every layer + the last classifier
        return student.cost.full_flops(num_tokens)
    return student.full_flops(num_tokens)


def score_student(student, collate, dev: TeacherOutputs, cfg: DistillConfig, seconds: float,
                  log: list[dict]) -> RunResult:
    log_probs = layer_log_probs(student, collate, dev.enc)  # (M, n, C)
    pred = log_probs.argmax(-1)  # (M, n)
    layer_acc = (pred == dev.labels).double().mean(1).tolist()
    t, s = dev.log_probs.exp(), log_probs.exp()
    cg = universal_kd_loss(t, s, "CG", return_lambda=True)
    il = universal_kd_loss(t, s, "IL").item() if s.size(0) > 1 else None
    params = count_parameters(student)
    return RunResult(cfg.student, cfg.method, cfg.seed, layer_acc[-1], layer_acc,
                     inference_flops(student, dev.num_tokens).mean().item(), params,
                     params - word_embedding_params(student), cg.lambdas.tolist(), il, cg.loss.item(),
                     seconds, log)


def distil_one(teacher, train: TeacherOutputs, dev: TeacherOutputs, cfg: DistillConfig):
    """Build, train and score one student. Returns (student, RunResult)."""
    student = build_student(teacher, cfg)
    start = time.perf_counter()
    log = train_student(student, teacher.collate, train, cfg)
    seconds = time.perf_counter() - start
    return student, score_student(student, teacher.collate, dev, cfg, seconds, log)


def layer_names(teacher, cfg: DistillConfig) -> tuple[list[str], list[str]]:
    teacher_names = [f"T{i + 1}" for i in range(teacher.num_layers)]
    if cfg.student == "bert":
        return [f"S{j + 1} (=T{k})" for j, k in enumerate(cfg.layers)], teacher_names
    return [f"{cfg.student} {j + 1}" for j in range(cfg.num_layers)], teacher_names


def teacher_scores(teacher, dev: TeacherOutputs, speeds=(0.1, 0.3, 0.5)) -> dict:
    """The teacher's dev accuracy, FLOPs and parameters; the same for the teacher cut after
    layer k with its own FastBERT classifier k (no training: "truncated"); and with FastBERT's
    early exit at a few speeds (the same decisions as `fastbert.evaluate.sweep`)."""
    from .evaluate import LayerOutputs, sweep

    n = dev.num_tokens
    layer_acc = (dev.log_probs.argmax(-1) == dev.labels).double().mean(1).tolist()
    embed = count_parameters(teacher.encoder.model.embeddings)
    per_layer = count_parameters(teacher.encoder.model.encoder.layer[0])
    per_clf = count_parameters(teacher.classifiers[0])
    truncated = [{"layers": k, "accuracy": layer_acc[k - 1], "params": embed + k * per_layer + per_clf,
                  "flops_per_sample": (k * teacher.cost.layer(n) + teacher.cost.classifier(n)).mean().item()}
                 for k in range(1, teacher.num_layers + 1)]
    outputs = LayerOutputs(dev.log_probs.exp(), dev.num_tokens.long(), dev.labels)
    early = [{"speed": r.speed, "accuracy": r.accuracy, "flops_per_sample": r.flops_per_sample,
              "mean_exit_layer": r.mean_exit_layer} for r in sweep(teacher, outputs, list(speeds))]
    return {"accuracy": layer_acc[-1], "flops_per_sample": teacher.cost.full_flops(n).mean().item(),
            "params": count_parameters(teacher), "layer_accuracy": layer_acc, "truncated": truncated,
            "early_exit": early}


def save_bert_student(student, teacher, directory: Path, cfg: DistillConfig, result: RunResult,
                      tscores: dict, data_note: str, record: dict, dev_data: TextDataset,
                      share_base: bool = True, fp16: bool = True) -> None:
    """Save a BERT-style student as a FastBERT model plus its `distill_summary.json`
    (with its early-exit accuracy and FLOPs on `dev_data` at a few speeds)."""
    from .evaluate import all_layer_outputs, sweep

    early = [{"speed": r.speed, "accuracy": r.accuracy, "flops_per_sample": r.flops_per_sample,
              "mean_exit_layer": r.mean_exit_layer}
             for r in sweep(student, all_layer_outputs(student, dev_data), [0.0, 0.1, 0.3, 0.5, 0.8])]
    record = {**record, "early_exit": early}
    student.save_pretrained(directory, dtype=torch.float16 if fp16 else torch.float32,
                            base_weights=teacher.config.backbone if share_base else None, metadata=record)
    s_names, t_names = layer_names(teacher, cfg)
    save_student_summary(directory, StudentSummary(
        student=cfg.student, method=cfg.method, student_layers=s_names, teacher=record["teacher"],
        teacher_layers=t_names, data=data_note, accuracy=result.accuracy,
        flops_per_sample=result.flops_per_sample, params=result.params,
        teacher_accuracy=tscores["accuracy"], teacher_flops_per_sample=tscores["flops_per_sample"],
        teacher_params=tscores["params"], layer_accuracy=result.layer_accuracy, lambdas=result.lambdas,
        early_exit=early,
        notes=f"seed {cfg.seed}; alpha={cfg.weights.alpha}, beta={cfg.weights.beta}, "
              f"gamma={cfg.weights.gamma}, T={cfg.weights.temperature}; lambdas measured on the dev set"))


# ----- data --------------------------------------------------------------------------------
def training_subset(data: TextDataset, size: int | None, seed: int) -> TextDataset:
    """A seeded random subset of `size` rows (all rows when size is None or larger)."""
    if not size or size >= len(data):
        return data
    rows = sorted(random.Random(seed).sample(range(len(data)), size))
    return data.subset(rows)


def _load(args):
    from .model import FastBert

    torch.set_num_threads(args.threads)
    teacher = FastBert.from_pretrained(args.teacher).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    train_data = training_subset(load_dataset(args.train), args.train_size, args.subset_seed)
    dev_data = load_dataset(args.dev)
    t0 = time.perf_counter()
    train = teacher_outputs(teacher, train_data, cache_path(args.cache_dir, args.teacher, train_data))
    dev = teacher_outputs(teacher, dev_data, cache_path(args.cache_dir, args.teacher, dev_data))
    print(f"teacher outputs cached: {len(train_data)} train + {len(dev_data)} dev rows "
          f"in {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    note = (f"train: {len(train_data)} rows of {args.train} (seeded subset, seed {args.subset_seed}), "
            f"{args.epochs:g} epoch; dev: {args.dev} ({len(dev_data)} rows)")
    return teacher, train, dev, dev_data, note


def _config(args, student: str, method: str, seed: int) -> DistillConfig:
    return DistillConfig(
        student=student, method=method, layers=[int(x) for x in args.layers.split(",")],
        num_layers=args.num_layers, width=args.width, embeddings=args.embeddings,
        weights=DistillWeights(args.alpha, args.beta, args.gamma, args.temperature),
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=seed,
        max_steps=args.max_steps, progress=not args.quiet)


def cmd_distill(args) -> int:
    if not args.no_png:
        from .report import check_png_export

        check_png_export()  # before hours of training, not after
    if args.report:
        return cmd_report(args)
    if not args.out:
        raise ValueError("--out: where to save the student (or use --report)")
    teacher, train, dev, dev_data, note = _load(args)
    cfg = _config(args, args.student, args.method, args.seed)
    student, result = distil_one(teacher, train, dev, cfg)
    tscores = teacher_scores(teacher, dev)
    out = Path(args.out)
    record = {"command": "python -m fastbert " + shlex.join(sys.argv[1:]), "teacher": args.teacher,
              "data": note, "distill": asdict(cfg), "dev": result.to_dict(), "teacher_dev": tscores}
    if cfg.student == "bert":
        save_bert_student(student, teacher, out, cfg, result, tscores, note, record, dev_data,
                          share_base=not args.no_share_base, fp16=not args.fp32)
    else:  # no loader for these yet: keep the scores only
        out.mkdir(parents=True, exist_ok=True)
        (out / "distill_run.json").write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.to_dict().items() if k != "train_log"}))
    print(f"saved to {out}")
    return 0


# ----- the report --------------------------------------------------------------------------
REPORT_ROWS = [("bert", "none"), ("bert", "kd"), ("bert", "ukd-il"), ("bert", "ukd-cg"),
               ("bilstm", "none"), ("bilstm", "kd"), ("bilstm", "ukd-ca"),
               ("gated-cnn", "none"), ("gated-cnn", "kd"), ("gated-cnn", "ukd-ca")]
METHOD_NAMES = {"none": "no KD (labels only)", "kd": "vanilla KD", "ukd-il": "Universal-KD IL",
                "ukd-cg": "Universal-KD CG", "ukd-ca": "Universal-KD CA"}


def _mean_std(values):
    values = list(values)
    return statistics.mean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def _student_title(kind: str, cfg: DistillConfig) -> str:
    if kind == "bert":
        return f"BERT-style, {len(cfg.layers)} layers (teacher layers {','.join(map(str, cfg.layers))})"
    return f"{'BiLSTM' if kind == 'bilstm' else 'gated CNN'}, {cfg.num_layers} layers, width {cfg.width}"


def write_report(results: list[RunResult], tscores: dict, teacher_dir: str, note: str, args,
                 configs: dict, out_md: Path, figure_stem: Path, teacher, png: bool = True) -> None:
    from plotly.subplots import make_subplots

    lines = [
        "# Universal-KD vs vanilla KD on SST-2 (dev)",
        "",
        "Universal-KD (Wu et al., EMNLP 2021) distils each student layer towards an attention-weighted "
        "mixture of the teacher's layers, compared through pseudo-classifiers "
        "(`fastbert/distill.py`). Teacher: the FastBERT model "
        f"`{teacher_dir}`; its {teacher.num_layers} per-layer classifiers are the teacher's pseudo-classifiers.",
        "",
        f"**Reduced budget (CPU):** students are trained on a seeded random subset of SST-2 train, "
        f"not the full 67k rows and not for the paper's epochs: {note}. Batch size {args.batch_size}; "
        f"alpha={args.alpha}, beta={args.beta}, gamma={args.gamma}, T={args.temperature}; learning rate "
        + ", ".join(f"{k} {configs[k].lr:g}" for k in configs) + ". Mean ± sample std over seeds "
        f"{args.seeds} (the seed sets initialisation, batch order and dropout; the subset is the same).",
        "",
        "FLOPs per sample: mean over the dev sentences of the full forward pass (no early exit: every "
        "layer, then the output classifier), counted with fvcore as 2 × multiply-adds of matrix products "
        "(and convolutions); embedding lookups are not counted. Parameters: all of the student's, pseudo-"
        "classifiers included (in brackets: without the word-embedding matrix, which is frozen and shared "
        "with the teacher's vocabulary).",
        "",
        "| student | method | dev accuracy (%) | params | FLOPs / sample | intermediate-layer accuracy (%) | dev L_IL | dev L_CG |",
        "|---|---|---|---|---|---|---|---|",
        f"| teacher (FastBERT, {teacher.num_layers} layers, no early exit) | — | {100 * tscores['accuracy']:.2f} | "
        f"{tscores['params'] / 1e6:.1f}M | {tscores['flops_per_sample'] / 1e6:.1f}M | "
        + " / ".join(f"{100 * a:.1f}" for a in tscores["layer_accuracy"][:-1]) + " | | |",
    ]
    for e in tscores.get("early_exit", []):
        lines.append(f"| teacher with FastBERT early exit, speed {e['speed']:g} (mean exit layer "
                     f"{e['mean_exit_layer']:.2f}) | — | {100 * e['accuracy']:.2f} | {tscores['params'] / 1e6:.1f}M | "
                     f"{e['flops_per_sample'] / 1e6:.1f}M | | | |")
    depths = sorted({c.depth for c in configs.values() if c.student == "bert"})
    for t in tscores.get("truncated", []):
        if t["layers"] in depths:
            lines.append(f"| teacher cut after layer {t['layers']}, with its own FastBERT classifier {t['layers']} "
                         f"(no training) | — | {100 * t['accuracy']:.2f} | {t['params'] / 1e6:.2f}M | "
                         f"{t['flops_per_sample'] / 1e6:.1f}M | | | |")
    by_row: dict = {}
    for r in results:
        by_row.setdefault((r.student, r.method), []).append(r)
    for kind, method in REPORT_ROWS:
        runs = by_row.get((kind, method))
        if not runs:
            continue
        m, s = _mean_std(100 * r.accuracy for r in runs)
        inter = []
        for j in range(len(runs[0].layer_accuracy) - 1):
            mj, sj = _mean_std(100 * r.layer_accuracy[j] for r in runs)
            inter.append(f"{mj:.1f}±{sj:.1f}")
        il = [r.dev_l_il for r in runs if r.dev_l_il is not None]
        lines.append(
            f"| {_student_title(kind, configs[kind])} | {METHOD_NAMES[method]} | {m:.2f} ± {s:.2f} | "
            f"{runs[0].params / 1e6:.2f}M ({runs[0].params_without_word_embeddings / 1e6:.2f}M) | "
            f"{runs[0].flops_per_sample / 1e6:.1f}M | {' / '.join(inter)} | "
            + (f"{statistics.mean(il):.4f}" if il else "—")
            + f" | {statistics.mean(r.dev_l_cg for r in runs):.4f} |")
    lines += [
        "",
        "Intermediate-layer accuracy: each intermediate pseudo-classifier of the student on dev (the "
        "layers Universal-KD IL/CA distil). dev L_IL, dev L_CG: the Universal-KD losses of the trained "
        "student on dev, whatever its training method (lower: closer to the teacher's attention-mixed "
        "layer outputs).",
        "",
        "Per-seed accuracies (%):",
        "",
    ]
    for kind, method in REPORT_ROWS:
        runs = by_row.get((kind, method))
        if runs:
            lines.append(f"- {kind} / {method}: " + ", ".join(f"seed {r.seed}: {100 * r.accuracy:.2f}" for r in runs))
    lines += ["", "## Does Universal-KD beat vanilla KD here?", "",
              "Difference of mean dev accuracy to the vanilla-KD row of the same student; it counts as a "
              "win only when larger than the larger of the two seed standard deviations (with 3 seeds "
              "and 872 dev sentences, one sentence is 0.11 points):", ""]
    lines += compare_to_kd(by_row)
    # Lambda heatmaps: mean over seeds of each Universal-KD row.
    ukd = [(k, m) for k, m in REPORT_ROWS if m.startswith("ukd-") and (k, m) in by_row]
    fig = make_subplots(rows=1, cols=max(1, len(ukd)), horizontal_spacing=0.06,
                        subplot_titles=[f"{k} / {METHOD_NAMES[m]}" for k, m in ukd])
    for c, (kind, method) in enumerate(ukd, start=1):
        runs = by_row[(kind, method)]
        lam = torch.tensor([r.lambdas for r in runs]).mean(0)
        s_names, t_names = layer_names(teacher, configs[kind])
        trace = lambda_heatmap(lam.tolist(), s_names, t_names).data[0]
        trace.update(showscale=c == len(ukd), coloraxis=None)
        fig.add_trace(trace, row=1, col=c)
        fig.update_yaxes(autorange="reversed", row=1, col=c)
    fig.update_layout(title="Universal-KD attention λ (student layer × teacher layer), dev set, mean over seeds",
                      template="plotly_white", width=420 * max(1, len(ukd)), height=420)
    figure_stem.parent.mkdir(parents=True, exist_ok=True)
    fig.write_html(str(figure_stem.with_suffix(".html")), include_plotlyjs="cdn")
    if png:  # kaleido drives a headless Chromium: seconds, so tests skip it
        from .report import check_png_export

        check_png_export()
        fig.write_image(str(figure_stem.with_suffix(".png")), scale=1)
    lines += [
        "",
        f"![lambda heatmaps]({figure_stem.name}.png) (interactive: [{figure_stem.name}.html]({figure_stem.name}.html))",
        "",
        "λ rows (dev, mean over seeds):",
        "",
    ]
    for kind, method in ukd:
        lam = torch.tensor([r.lambdas for r in by_row[(kind, method)]]).mean(0)
        s_names, _ = layer_names(teacher, configs[kind])
        for name, row in zip(s_names, lam.tolist()):
            lines.append(f"- {kind} / {method}, {name}: " + " ".join(f"{v:.3f}" for v in row))
    if ukd:
        lams = torch.tensor([row for k, m in ukd for r in by_row[(k, m)] for row in r.lambdas])
        n_t = lams.shape[-1]
        cap = math.e / (math.e + n_t - 1)
        lines += ["", f"Why λ is nearly uniform: its softmax runs over dot products of probability vectors, "
                  f"which lie in [0, 1], so no teacher layer can get more than e/(e+{n_t - 1}) = {cap:.2f} "
                  f"of the weight, or less than {1 / (1 + (n_t - 1) * math.e):.2f}; the teacher's layers "
                  f"mostly agree with each other, so the dot products are close and λ stays near "
                  f"1/{n_t} = {1 / n_t:.3f} (observed over all runs and student layers: "
                  f"{lams.min().item():.3f} to {lams.max().item():.3f}). This is the formula as specified; "
                  f"a temperature on those dot products would sharpen it."]
    lines += ["", "Regenerate: `bash scripts/universal_kd_report.sh` (the exact command: "
              f"`python -m fastbert {shlex.join(a for a in sys.argv[1:] if a != '--resume')}`; `--resume` "
              "reuses finished runs from the runs JSON).", ""]
    lines += kept_notes(out_md)
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text("\n".join(lines) + "\n")


NOTES_BEGIN, NOTES_END = "<!-- notes: kept when the report is regenerated -->", "<!-- end of notes -->"


def kept_notes(path: Path) -> list[str]:
    """The hand-written notes block of an existing report (the analysis that is not a number)."""
    if not path.is_file():
        return []
    text = path.read_text()
    if NOTES_BEGIN not in text or NOTES_END not in text:
        return []
    return text[text.index(NOTES_BEGIN):text.index(NOTES_END) + len(NOTES_END)].splitlines() + [""]


def compare_to_kd(by_row: dict) -> list[str]:
    out = []
    for kind, method in REPORT_ROWS:
        if not method.startswith("ukd-") or (kind, method) not in by_row or (kind, "kd") not in by_row:
            continue
        mu, su = _mean_std(100 * r.accuracy for r in by_row[(kind, method)])
        mk, sk = _mean_std(100 * r.accuracy for r in by_row[(kind, "kd")])
        diff = mu - mk
        verdict = ("beats vanilla KD" if diff > max(su, sk) else
                   "is worse than vanilla KD" if -diff > max(su, sk) else "does not beat vanilla KD (within seed noise)")
        out.append(f"- {kind}: {METHOD_NAMES[method]} {mu:.2f} vs vanilla KD {mk:.2f}: {diff:+.2f} points; "
                   f"{METHOD_NAMES[method]} {verdict}.")
    return out


def cmd_report(args) -> int:
    teacher, train, dev, dev_data, note = _load(args)
    tscores = teacher_scores(teacher, dev)
    seeds = [int(s) for s in args.seeds.split(",")]
    rows = [(k, m) for k, m in REPORT_ROWS if k in args.report_students.split(",")]
    configs = {k: _config(args, k, "none", 0) for k, _ in rows}
    results: list[RunResult] = []
    runs_path = Path(args.report_out).with_name(Path(args.report_out).stem + "_runs.json")
    done = {}
    if args.resume and runs_path.is_file():  # a long report can be resumed after an interruption
        for d in json.loads(runs_path.read_text())["runs"]:
            done[(d["student"], d["method"], d["seed"])] = RunResult(**d)
    for kind, method in rows:
        for seed in seeds:
            cfg = _config(args, kind, method, seed)
            if (kind, method, seed) in done:
                results.append(done[(kind, method, seed)])
                continue
            student, result = distil_one(teacher, train, dev, cfg)
            results.append(result)
            print(f"{kind:>9} {method:>7} seed {seed}: dev acc {100 * result.accuracy:.2f} "
                  f"layers {[round(100 * a, 1) for a in result.layer_accuracy]} "
                  f"({result.train_seconds:.0f}s)", file=sys.stderr, flush=True)
            if kind == "bert" and method == args.save_method and seed == seeds[0] and args.save_student:
                record = {"command": "python -m fastbert " + shlex.join(sys.argv[1:]), "teacher": args.teacher,
                          "data": note, "distill": asdict(cfg), "dev": result.to_dict(), "teacher_dev": tscores}
                save_bert_student(student, teacher, Path(args.save_student), cfg, result, tscores, note, record,
                                  dev_data)
            runs_path.parent.mkdir(parents=True, exist_ok=True)
            runs_path.write_text(json.dumps({"data": note, "teacher": args.teacher, "teacher_dev": tscores,
                                             "runs": [r.to_dict() for r in results]}, indent=1) + "\n")
    write_report(results, tscores, args.teacher, note, args, configs, Path(args.report_out),
                 Path(args.report_out).with_name(Path(args.report_out).stem + "_lambda"), teacher,
                 png=not args.no_png)
    print(f"report written to {args.report_out}")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("distill", help="distil a student (BERT-style, BiLSTM, gated CNN) from a "
                                              "FastBERT teacher: labels only, vanilla KD or Universal-KD")
    p.add_argument("--teacher", default="assets/models/sst2-minilm", help="a saved FastBERT model")
    p.add_argument("--train", default="../shared/data/sst2/train.tsv")
    p.add_argument("--dev", default="../shared/data/sst2/dev.tsv")
    p.add_argument("--train-size", type=int, default=8000, help="seeded random subset of --train (0: all)")
    p.add_argument("--subset-seed", type=int, default=0)
    p.add_argument("--student", default="bert", choices=STUDENT_KINDS)
    p.add_argument("--layers", default="1,2", help="bert: 1-based teacher layers to copy")
    p.add_argument("--num-layers", type=int, default=3, help="bilstm / gated-cnn: number of layers")
    p.add_argument("--width", type=int, default=256, help="bilstm (both directions) / gated-cnn width")
    p.add_argument("--embeddings", default="teacher", choices=["teacher", "teacher-trainable", "random"],
                   help="bilstm / gated-cnn word embeddings: the teacher's (frozen), the teacher's "
                        "(trained further) or random (trained)")
    p.add_argument("--method", default="ukd-il", choices=METHODS)
    p.add_argument("--alpha", type=float, default=1.0, help="weight of the cross-entropy with labels")
    p.add_argument("--beta", type=float, default=1.0, help="weight of vanilla KD on the final logits")
    p.add_argument("--gamma", type=float, default=1.0, help="weight of the Universal-KD loss")
    p.add_argument("--temperature", type=float, default=2.0)
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=None, help="default: 1e-4 for bert, 2e-3 otherwise")
    p.add_argument("--max-steps", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--cache-dir", default="runs/distill-cache",
                   help="keep the teacher's outputs here between runs ('' for none)")
    p.add_argument("--out", default=None, help="directory for the student (bert: a FastBERT model)")
    p.add_argument("--fp32", action="store_true", help="store weights in float32 (default float16)")
    p.add_argument("--no-share-base", action="store_true",
                   help="also store weights identical to the teacher's backbone")
    p.add_argument("--quiet", action="store_true")
    g = p.add_argument_group("report")
    g.add_argument("--report", action="store_true", help="train every row of the report table and write it")
    g.add_argument("--seeds", default="0,1,2")
    g.add_argument("--report-students", default="bert,bilstm,gated-cnn")
    g.add_argument("--report-out", default="assets/reports/universal_kd.md")
    g.add_argument("--save-student", default=None, help="save the bert student of --save-method, first seed, here")
    g.add_argument("--save-method", default="ukd-il", choices=METHODS)
    g.add_argument("--no-png", action="store_true", help="write the heatmap as HTML only")
    g.add_argument("--resume", action="store_true", help="reuse the runs already in <report>_runs.json")
    p.set_defaults(func=cmd_distill)
