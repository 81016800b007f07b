"""`python -m fastbert distill`: train a student from a FastBERT teacher with labels only,
vanilla KD or Universal-KD (IL, CG, CA), and the SST-2 report comparing them (`--report`).

The teacher is frozen, so its per-layer outputs on the training set are computed once and
kept in memory; every student and seed then trains against that cache.
"""
from __future__ import annotations

import json
import math
import random
import shlex
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from .data import TextDataset, load_dataset
from .distill import (METHODS, SPACES, DistillWeights, StudentSummary, distillation_loss, save_student_summary,
                      universal_kd_loss)
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
    space: str = "logits"  # Universal-KD's reading of f: the pseudo-classifiers' "logits" or "probs"
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
        if self.space not in SPACES:
            raise ValueError(f"space: one of {SPACES}, got {self.space!r}")
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
    """The frozen teacher's per-layer classifier logits on a tokenized dataset: logits (L, n, C)
    (raw logits, not log-probabilities: Universal-KD's logits reading takes dot products of them)."""

    enc: dict
    logits: torch.Tensor
    labels: torch.Tensor | None

    @property
    def log_probs(self) -> torch.Tensor:
        return self.logits.log_softmax(-1)

    @property
    def num_tokens(self) -> torch.Tensor:
        return torch.tensor([len(ids) for ids in self.enc["input_ids"]], dtype=torch.float64)


@torch.inference_mode()
def layer_logits(model, collate, enc: dict, batch_size: int = 64) -> torch.Tensor:
    """(L, n, C) logits of every layer's classifier of `model` (FastBert or a sequence
    student), in the order of `enc`; longest texts first for little padding."""
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
        out[:, rows] = logits.cpu()
    model.train(was_training)
    return out


def teacher_outputs(teacher, data: TextDataset, cache_file: Path | None = None) -> TeacherOutputs:
    """Tokenize `data` with the teacher's tokenizer and the teacher's per-layer outputs on it,
    read from / written to `cache_file` when given (the teacher is frozen: they never change)."""
    enc = teacher.tokenize(data.texts)
    labels = None if data.raw_labels is None else torch.tensor(data.label_ids(teacher.config.labels))
    if cache_file is not None and cache_file.is_file():
        logits = torch.load(cache_file)
        if logits.shape[:2] == (teacher.num_layers, len(data)):
            return TeacherOutputs(enc, logits, labels)
    logits = layer_logits(teacher, teacher.collate, enc)
    if cache_file is not None:
        cache_file.parent.mkdir(parents=True, exist_ok=True)
        torch.save(logits, cache_file)
    return TeacherOutputs(enc, logits, labels)


def cache_path(cache_dir: str | None, teacher_dir: str, data: TextDataset) -> Path | None:
    """A file name that changes with the teacher's weights and with the exact texts."""
    if not cache_dir:
        return None
    import hashlib

    weights = Path(teacher_dir) / "model.safetensors"
    h = hashlib.sha256()
    h.update(b"raw logits")  # older caches held log-probabilities
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
            teacher_logits = train.logits[:, rows].to(ids.device)
            loss = distillation_loss(out.layer_logits, teacher_logits, train.labels[rows].to(ids.device),
                                     cfg.method, cfg.weights, cfg.space)
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
    lambdas: list[list[float]]  # (M, N) on dev in `space`, whatever the method (a diagnostic for none/kd)
    dev_l_il: float | None  # Universal-KD losses on dev in `space` (None where undefined)
    dev_l_cg: float
    train_seconds: float
    train_log: list[dict]
    space: str = "probs"  # runs saved before the logits reading used probabilities
    gamma: float | None = None
    temperature: float | None = None
    val_accuracy: float | None = None  # on the held-out slice of train used for tuning
    lambda_peak: list[float] | None = None  # (M,) dev mean of each sample's largest lambda
    logit_norm: list[float] | None = None  # (M,) dev mean L2 norm of each pseudo-classifier's logits

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
                  log: list[dict], val: TeacherOutputs | None = None) -> RunResult:
    """Dev accuracy, cost and the Universal-KD diagnostics in `cfg.space` (plus the accuracy on
    the held-out slice of train `val`, when given)."""
    logits = layer_logits(student, collate, dev.enc)  # (M, n, C)
    layer_acc = (logits.argmax(-1) == dev.labels).double().mean(1).tolist()
    t, s = (dev.logits, logits) if cfg.space == "logits" else (dev.logits.softmax(-1), logits.softmax(-1))
    cg = universal_kd_loss(t, s, "CG", cfg.space, return_lambda=True)
    il = universal_kd_loss(t, s, "IL", cfg.space).item() if s.size(0) > 1 else None
    val_acc = None
    if val is not None:
        val_acc = (layer_logits(student, collate, val.enc)[-1].argmax(-1) == val.labels).double().mean().item()
    params = count_parameters(student)
    return RunResult(cfg.student, cfg.method, cfg.seed, layer_acc[-1], layer_acc,
                     inference_flops(student, dev.num_tokens).mean().item(), params,
                     params - word_embedding_params(student), cg.lambdas.tolist(), il, cg.loss.item(),
                     seconds, log, space=cfg.space, gamma=cfg.weights.gamma, temperature=cfg.weights.temperature,
                     val_accuracy=val_acc, lambda_peak=cg.peak.tolist(), logit_norm=logits.norm(dim=-1).mean(1).tolist())


def distil_one(teacher, train: TeacherOutputs, dev: TeacherOutputs, cfg: DistillConfig,
               val: TeacherOutputs | None = None):
    """Build, train and score one student. Returns (student, RunResult)."""
    student = build_student(teacher, cfg)
    start = time.perf_counter()
    log = train_student(student, teacher.collate, train, cfg)
    seconds = time.perf_counter() - start
    return student, score_student(student, teacher.collate, dev, cfg, seconds, log, val)


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
            "logit_norm": dev.logits.norm(dim=-1).mean(1).tolist(),
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
              f"gamma={cfg.weights.gamma}, T={cfg.weights.temperature}; lambdas measured on the dev set "
              f"({cfg.space} reading)", space=cfg.space))


# ----- data --------------------------------------------------------------------------------
def training_subset(data: TextDataset, size: int | None, seed: int) -> TextDataset:
    """A seeded random subset of `size` rows (all rows when size is None or larger)."""
    return train_and_validation(data, size, 0, seed)[0]


def train_and_validation(data: TextDataset, size: int | None, val_size: int,
                         seed: int) -> tuple[TextDataset, TextDataset | None]:
    """The training subset of `training_subset` and a disjoint seeded slice of `val_size` other
    rows of the same file (for tuning: the dev set stays for the final scores only)."""
    n = len(data)
    train_rows = list(range(n)) if not size or size >= n else sorted(random.Random(seed).sample(range(n), size))
    if not val_size:
        return (data if len(train_rows) == n else data.subset(train_rows)), None
    taken = set(train_rows)
    if n - len(taken) < val_size:  # all rows train: the validation slice comes out of them
        train_rows = sorted(random.Random(seed).sample(range(n), n - val_size))
        taken = set(train_rows)
    rest = [r for r in range(n) if r not in taken]
    val_rows = sorted(random.Random(seed + 1).sample(rest, val_size))
    return data.subset(train_rows), data.subset(val_rows)


def _load(args):
    from .model import FastBert

    torch.set_num_threads(args.threads)
    teacher = FastBert.from_pretrained(args.teacher).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    train_data, val_data = train_and_validation(load_dataset(args.train), args.train_size,
                                                args.val_size if args.report else 0, args.subset_seed)
    dev_data = load_dataset(args.dev)
    t0 = time.perf_counter()
    train = teacher_outputs(teacher, train_data, cache_path(args.cache_dir, args.teacher, train_data))
    dev = teacher_outputs(teacher, dev_data, cache_path(args.cache_dir, args.teacher, dev_data))
    val = None if val_data is None else teacher_outputs(teacher, val_data,
                                                        cache_path(args.cache_dir, args.teacher, val_data))
    print(f"teacher outputs cached: {len(train_data)} train + {len(dev_data)} dev rows "
          f"in {time.perf_counter() - t0:.0f}s", file=sys.stderr, flush=True)
    note = (f"train: {len(train_data)} rows of {args.train} (seeded subset, seed {args.subset_seed}), "
            f"{args.epochs:g} epoch; dev: {args.dev} ({len(dev_data)} rows)")
    if val_data is not None:
        note += f"; tuning on {len(val_data)} other rows of {args.train} (held out from training)"
    return Loaded(teacher, train, dev, dev_data, note, val)


@dataclass
class Loaded:
    """The frozen teacher and its cached outputs on train, dev and (optionally) a tuning slice."""

    teacher: object
    train: TeacherOutputs
    dev: TeacherOutputs
    dev_data: TextDataset
    note: str
    val: TeacherOutputs | None = None


def _config(args, student: str, method: str, seed: int, space: str | None = None, gamma: float | None = None,
            temperature: float | None = None) -> DistillConfig:
    return DistillConfig(
        student=student, method=method, space=space or args.space, layers=[int(x) for x in args.layers.split(",")],
        num_layers=args.num_layers, width=args.width, embeddings=args.embeddings,
        weights=DistillWeights(args.alpha, args.beta, args.gamma if gamma is None else gamma,
                               args.temperature if temperature is None else temperature),
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, seed=seed,
        max_steps=args.max_steps, progress=not args.quiet)


def cmd_distill(args) -> int:
    if args.report:
        from .distill_study import run_study

        return run_study(args)
    if not args.out:
        raise ValueError("--out: where to save the student (or use --report)")
    loaded = _load(args)
    teacher, train, dev, dev_data, note = loaded.teacher, loaded.train, loaded.dev, loaded.dev_data, loaded.note
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
    p.add_argument("--space", default="logits", choices=SPACES,
                   help="Universal-KD's reading of the pseudo-classifier outputs f: logits W h (the paper's "
                        "Sim_Univ) or probabilities softmax(W h) (the earlier reading)")
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
    g = p.add_argument_group("study (--report): rows x seeds, gamma and T tuned on a held-out slice of train")
    g.add_argument("--report", action="store_true",
                   help="run the study and append each run to --runs-out (finished runs are reused)")
    g.add_argument("--seeds", default="0,1,2,3,4", help="the first seed also serves the tuning grid")
    g.add_argument("--report-students", default="bert,bilstm,gated-cnn")
    g.add_argument("--spaces", default="logits,probs", help="Universal-KD readings to compare")
    g.add_argument("--val-size", type=int, default=1000, help="rows of train held out for tuning")
    g.add_argument("--t-grid", default="1,2,4", help="vanilla KD temperatures tried (Universal-KD rows use "
                                                     "the student's chosen T)")
    g.add_argument("--gamma-grid", default="0.3,1,3", help="Universal-KD weights tried")
    g.add_argument("--runs-out", default="assets/reports/universal_kd_runs.json")
    g.add_argument("--save-student", default=None,
                   help="save the bert student of --save-method/--save-space, first seed, chosen gamma, here")
    g.add_argument("--save-method", default="ukd-il", choices=METHODS)
    g.add_argument("--save-space", default="logits", choices=SPACES)
    p.set_defaults(func=cmd_distill)
