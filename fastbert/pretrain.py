"""Pre-train a BERT backbone from scratch with masked-language modelling (the paper's first step).

Built from transformers' own pieces: `BertForMaskedLM`, `DataCollatorForLanguageModeling`
and a tokenizer whose vocabulary `fastbert.vocab` learns from the corpus with the
`tokenizers` library. The output directory is an ordinary Hugging Face model directory
(config.json, model.safetensors, tokenizer files), so `python -m fastbert train --backbone DIR`
takes it like any other backbone.

    python -m fastbert pretrain --corpus a.tsv b.txt --out runs/bert-zh --threads 1

Checkpoints go to DIR/checkpoint.pt every `save_every` steps and on Ctrl-C / SIGTERM;
`--resume` continues from there. Each step draws its masks and dropout from a generator
seeded by (seed, step), so a resumed run takes the same steps as an uninterrupted one.
Resuming with another --max-steps (or --epochs) is allowed: the learning-rate schedule is then
redrawn for the new total from the step reached (a way to shorten or extend a running job).
`--init DIR` starts from a backbone this command saved earlier (same vocabulary and shape),
with a fresh optimiser and schedule: more pre-training after a finished run.
"""
from __future__ import annotations

import json
import math
import os
import shlex
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch

from .backbone import quiet_transformers
from .data import TextDataset, load_dataset
from .training import length_grouped_batches, optimizer_step
from .vocab import VocabConfig, build_tokenizer

CHECKPOINT = "checkpoint.pt"
RECORD = "pretrain.json"
# Fields that fix the model's and the data's shape: a checkpoint only resumes under the same ones.
_SHAPE_FIELDS = ("init", "corpus", "text_columns", "hold_out", "exclude", "layers", "hidden", "heads", "ffn",
                 "max_length", "batch_size", "seed", "eval_fraction", "vocab")

Text = str | tuple[str, str]


@dataclass
class PretrainConfig:
    """Masked-LM pre-training of a BERT encoder. The defaults (4 layers, hidden 256, 3,000
    steps of 32 sequences) train on one CPU thread in about half an hour.

    Example:
        >>> cfg = PretrainConfig(corpus=["reviews.txt"], out="runs/bert-small", max_steps=100)
        >>> cfg.layers, cfg.hidden
        (4, 256)

    corpus: files of lines (.txt) or data files read with `fastbert.data.load_dataset`
    (only their text columns; two text columns are kept as a sentence pair).
    hold_out: {path: fraction}; only the train part of `TextDataset.split(fraction, seed)` of
    that file is used, which is the split `train --dev-fraction fraction --seed seed` makes.
    exclude: files whose texts (exact matches) are removed from the corpus, such as dev sets.
    eval_fraction: share of the corpus set aside to measure the MLM loss (at most 1,000 texts).
    init: a directory this command wrote (BertForMaskedLM + tokenizer) to continue from, with a
    new optimiser and schedule; its vocabulary and shape are used (see `with_init_shape`).
    """

    corpus: list[str]
    out: str
    text_columns: list[str] | None = None
    hold_out: dict[str, float] = field(default_factory=dict)
    exclude: list[str] = field(default_factory=list)
    vocab: VocabConfig = field(default_factory=lambda: VocabConfig(min_frequency=2))
    layers: int = 4
    hidden: int = 256
    heads: int = 4
    ffn: int = 1024
    max_length: int = 128
    batch_size: int = 32
    lr: float = 5e-4
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    max_grad_norm: float = 1.0
    epochs: float | None = None  # None: as many as max_steps takes
    max_steps: int | None = 3000
    mlm_probability: float = 0.15
    eval_fraction: float = 0.01
    save_every: int = 250
    seed: int = 0
    progress: bool = True
    init: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.vocab, dict):
            self.vocab = VocabConfig(**self.vocab)
        if not self.corpus:
            raise ValueError("corpus: give at least one file")
        if self.epochs is None and self.max_steps is None:
            raise ValueError("epochs / max_steps: give at least one")
        for name in ("layers", "hidden", "heads", "ffn", "batch_size", "save_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1, got {getattr(self, name)}")
        if self.hidden % self.heads:
            raise ValueError(f"heads: must divide hidden={self.hidden}, got {self.heads}")
        if self.max_length < 8:
            raise ValueError(f"max_length: must be at least 8, got {self.max_length}")
        if not 0 <= self.warmup_ratio < 1:
            raise ValueError(f"warmup_ratio: must be in [0, 1), got {self.warmup_ratio}")
        if not 0 < self.mlm_probability < 1:
            raise ValueError(f"mlm_probability: must be in (0, 1), got {self.mlm_probability}")
        if not 0 <= self.eval_fraction < 0.5:
            raise ValueError(f"eval_fraction: must be in [0, 0.5), got {self.eval_fraction}")
        for path, frac in self.hold_out.items():
            if not 0 < frac < 1:
                raise ValueError(f"hold_out: fraction for {path} must be in (0, 1), got {frac}")
        if (self.epochs is not None and self.epochs <= 0) or (self.max_steps is not None and self.max_steps < 1):
            raise ValueError("epochs and max_steps: must be positive")

    def to_dict(self) -> dict:
        return asdict(self)

    def with_init_shape(self) -> "PretrainConfig":
        """This config with layers, hidden, heads, ffn and max_length read from `init`'s config
        (those options cannot change when continuing); unchanged without `init`."""
        if not self.init:
            return self
        from dataclasses import replace

        from transformers import AutoConfig

        c = AutoConfig.from_pretrained(self.init, trust_remote_code=False)
        return replace(self, layers=c.num_hidden_layers, hidden=c.hidden_size, heads=c.num_attention_heads,
                       ffn=c.intermediate_size, max_length=c.max_position_embeddings)


@dataclass
class PretrainResult:
    """What a run did: where it saved, how far it went, and its held-out MLM loss."""

    out: str
    steps: int
    train_loss: float  # running mean of the last steps
    eval_loss_initial: float | None  # held-out MLM loss of the random initialisation
    eval_loss: float | None  # held-out MLM loss at the end
    vocab_size: int
    parameters: int
    seconds: float
    log: list[dict]
    finished: bool = True  # False: stopped at `stop_at`, a checkpoint waits for --resume
    # One entry per run that took part: the steps it took and the schedule it followed.
    segments: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


# ----- corpus --------------------------------------------------------------------------------
def read_texts(path: str, text_columns: Sequence[str] | None = None) -> TextDataset:
    """Texts (no labels) of one corpus file: a file of lines, or a data file's text columns.

    Read as `train` reads it (the label column found as usual, then dropped), so that a
    `hold_out` split is the same rows as `train --dev-fraction`'s.
    """
    if path.endswith(".txt"):
        return load_dataset(path, fmt="txt", unlabeled=True)
    data = load_dataset(path, text_columns=text_columns)
    return TextDataset(data.texts, None, data.source)


def _flat(texts: Sequence[Text]) -> list[str]:
    return [s for t in texts for s in (t if isinstance(t, tuple) else (t,))]


def read_corpus(cfg: PretrainConfig) -> tuple[list[Text], list[dict]]:
    """All corpus texts (deduplicated, excluded texts removed) and a per-file summary."""
    excluded = {s for path in cfg.exclude for s in _flat(read_texts(path, cfg.text_columns).texts)}
    seen: set[Text] = set()
    texts: list[Text] = []
    summary = []
    for path in cfg.corpus:
        data = read_texts(path, cfg.text_columns)
        rows = len(data)
        if path in cfg.hold_out:
            data, _ = data.split(cfg.hold_out[path], cfg.seed)
        kept = []
        for t in data.texts:
            if t and t not in seen and not any(s in excluded for s in _flat([t])):
                kept.append(t)
                seen.add(t)
        texts += kept
        summary.append({"path": path, "rows": rows, "used": len(kept),
                        "held_out_fraction": cfg.hold_out.get(path)})
    unknown = set(cfg.hold_out) - set(cfg.corpus)
    if unknown:
        raise ValueError(f"hold_out: {sorted(unknown)} are not corpus files")
    if not texts:
        raise ValueError("corpus: no texts left")
    return texts, summary


def encode(tokenizer, texts: Sequence[Text], max_length: int) -> list[dict]:
    """Token windows for masked-LM: a long text becomes several windows of `max_length`
    (nothing is cut away); a sentence pair is one window, truncated longest-first."""
    singles = [t for t in texts if isinstance(t, str)]
    pairs = [t for t in texts if isinstance(t, tuple)]
    keys = ("input_ids", "token_type_ids", "special_tokens_mask")
    features = []
    if singles:
        enc = tokenizer(singles, truncation=True, max_length=max_length, return_overflowing_tokens=True,
                        return_special_tokens_mask=True)
        features += [{k: enc[k][i] for k in keys} for i in range(len(enc["input_ids"]))]
    if pairs:
        enc = tokenizer([a for a, _ in pairs], [b for _, b in pairs], truncation="longest_first",
                        max_length=max_length, return_special_tokens_mask=True)
        features += [{k: enc[k][i] for k in keys} for i in range(len(enc["input_ids"]))]
    return features


# ----- model ---------------------------------------------------------------------------------
def build_model(cfg: PretrainConfig, tokenizer):
    from transformers import BertConfig, BertForMaskedLM

    config = BertConfig(vocab_size=len(tokenizer), hidden_size=cfg.hidden, num_hidden_layers=cfg.layers,
                        num_attention_heads=cfg.heads, intermediate_size=cfg.ffn,
                        max_position_embeddings=cfg.max_length, type_vocab_size=2,
                        pad_token_id=tokenizer.pad_token_id)
    torch.manual_seed(cfg.seed)
    return BertForMaskedLM(config)


def load_model(path: str):
    """A masked-LM model this command saved (to continue pre-training it)."""
    from transformers import BertForMaskedLM

    with quiet_transformers():
        return BertForMaskedLM.from_pretrained(path)


def _collate(collator, features: list[dict], rows: Sequence[int], seed: int):
    # The masks come from the global generator (the collator has no seed), seeded per batch:
    # the same step always masks the same way, whether or not the run was resumed.
    torch.manual_seed(seed)
    return collator([dict(features[r]) for r in rows])


def unigram_loss(train: list[dict], held_out: list[dict], vocab_size: int) -> float:
    """Cross-entropy on the held-out tokens of a model that ignores context and predicts the
    training frequencies (add-one smoothed): the plateau a masked LM first reaches. An MLM loss
    below it means the encoder uses the context; near it, it has not yet learnt to.

    Example (p(5) = (2 + 1) / (3 + 7)):
        >>> round(unigram_loss([{"input_ids": [5, 5, 6], "special_tokens_mask": [0, 0, 0]}],
        ...                    [{"input_ids": [5], "special_tokens_mask": [0]}], vocab_size=7), 3)
        1.204
    """
    counts = torch.ones(vocab_size, dtype=torch.float64)
    for f in train:
        ids = torch.tensor([i for i, s in zip(f["input_ids"], f["special_tokens_mask"]) if not s], dtype=torch.long)
        counts += torch.bincount(ids, minlength=vocab_size).double()
    log_p = (counts / counts.sum()).log()
    ids = [i for f in held_out for i, s in zip(f["input_ids"], f["special_tokens_mask"]) if not s]
    return -log_p[torch.tensor(ids, dtype=torch.long)].mean().item() if ids else float("nan")


def masked_lm_loss(model, batch: dict) -> tuple[torch.Tensor, int]:
    """Mean cross-entropy over the masked tokens of `batch`, and their number.

    The same loss as `BertForMaskedLM(**batch).loss`, but the prediction head (a projection
    onto the whole vocabulary) runs on the masked positions only, not on every token: with
    15% masked that is most of the head's cost saved, which on a CPU is a good share of a step.
    """
    labels = batch["labels"]
    hidden = model.bert(input_ids=batch["input_ids"], attention_mask=batch.get("attention_mask"),
                        token_type_ids=batch.get("token_type_ids"))[0]
    picked = labels != -100
    n = int(picked.sum())
    if not n:
        return hidden.sum() * 0.0, 0
    logits = model.cls(hidden[picked])
    return torch.nn.functional.cross_entropy(logits.float(), labels[picked]), n


@torch.no_grad()
def mlm_loss(model, collator, features: list[dict], batch_size: int, seed: int = 1234) -> float:
    """Mean masked-LM loss over `features`, with fixed masks (comparable across a run)."""
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    order = sorted(range(len(features)), key=lambda r: len(features[r]["input_ids"]))
    for k in range(0, len(order), batch_size):
        loss, n = masked_lm_loss(model, _collate(collator, features, order[k:k + batch_size], seed + k))
        total += loss.item() * n
        count += n
    model.train(was_training)
    return total / count if count else float("nan")


# ----- training ------------------------------------------------------------------------------
def _segment(config: dict, start: int, end: int) -> dict:
    return {"start_step": start, "end_step": end, "max_steps": config["max_steps"], "epochs": config["epochs"],
            "lr": config["lr"]}


def _check_resumable(saved: dict, cfg: PretrainConfig) -> None:
    now = cfg.to_dict()
    changed = [k for k in _SHAPE_FIELDS if saved.get(k) != now.get(k)]
    if changed:
        raise ValueError(f"--resume: the checkpoint was made with other {', '.join(changed)}; "
                         "use the same options or another --out")


def pretrain(cfg: PretrainConfig, resume: bool = False,
             on_step: Callable[[int, float], None] | None = None,
             stop_at: int | None = None) -> PretrainResult:
    """Pre-train and save a BERT backbone into `cfg.out`; returns what it did.

    on_step(step, loss) is called after each optimiser step (1-based step).
    A KeyboardInterrupt (Ctrl-C, or SIGTERM under the CLI) saves a checkpoint, then propagates.
    stop_at: save a checkpoint after that step and return (finished=False), as an interruption
    would, but at a chosen step (training in time slices; reproducing a resumed run exactly).
    """
    from tqdm.auto import tqdm
    from transformers import AutoTokenizer, DataCollatorForLanguageModeling, get_linear_schedule_with_warmup

    start_time = time.perf_counter()
    out = Path(cfg.out)
    ckpt_path = out / CHECKPOINT
    state = None
    if ckpt_path.is_file():
        if not resume:
            raise ValueError(f"{ckpt_path} exists: pass --resume to continue it, or choose another --out")
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        _check_resumable(state["config"], cfg)
    elif resume:
        raise FileNotFoundError(f"--resume: no checkpoint at {ckpt_path}")

    if cfg.init and Path(cfg.init).resolve() == out.resolve():
        raise ValueError("--init: write the continued backbone to another --out than the one it starts from")
    texts, summary = read_corpus(cfg)
    n_eval = min(1000, round(len(texts) * cfg.eval_fraction))
    # A seeded choice of held-out texts, so a resumed run holds out the same ones.
    order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(cfg.seed)).tolist()
    eval_texts = [texts[r] for r in sorted(order[:n_eval])]
    train_texts = [texts[r] for r in sorted(order[n_eval:])]

    out.mkdir(parents=True, exist_ok=True)
    if state is not None:
        tokenizer = AutoTokenizer.from_pretrained(str(out), trust_remote_code=False)
    elif cfg.init:
        tokenizer = AutoTokenizer.from_pretrained(cfg.init, trust_remote_code=False)
        tokenizer.save_pretrained(str(out))
    else:
        tokenizer = build_tokenizer(_flat(train_texts), cfg.vocab, cfg.max_length)
        tokenizer.save_pretrained(str(out))  # first, so that a resumed run reuses this vocabulary
    features = encode(tokenizer, train_texts, cfg.max_length)
    eval_features = encode(tokenizer, eval_texts, cfg.max_length)
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=cfg.mlm_probability)

    model = build_model(cfg, tokenizer) if state is not None or not cfg.init else load_model(cfg.init)
    lengths = [len(f["input_ids"]) for f in features]
    steps_per_epoch = math.ceil(len(features) / cfg.batch_size)
    total = math.ceil(cfg.epochs * steps_per_epoch) if cfg.epochs is not None else cfg.max_steps
    total = min(total, cfg.max_steps) if cfg.max_steps is not None else total
    decay = [p for n, p in model.named_parameters() if p.ndim > 1]
    no_decay = [p for n, p in model.named_parameters() if p.ndim <= 1]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(cfg.warmup_ratio * total), total)
    step, running, log = 0, 0.0, []
    eval_initial = None
    segments: list[dict] = []
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        step, running, log = state["step"], state["running_loss"], state["log"]
        eval_initial = state["eval_loss_initial"]
        segments = state.get("segments") or [_segment(state["config"], 0, state["step"])]
    elif eval_features:
        eval_initial = mlm_loss(model, collator, eval_features, cfg.batch_size)
    # The plateau to get below: a held-out MLM loss near it means no context has been learnt yet.
    eval_unigram = unigram_loss(features, eval_features, len(tokenizer)) if eval_features else None

    first_step = step

    def save_checkpoint() -> None:
        tmp = ckpt_path.with_suffix(".tmp")
        torch.save({"config": cfg.to_dict(), "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "step": step, "running_loss": running, "log": log,
                    "eval_loss_initial": eval_initial,
                    "segments": segments + [_segment(cfg.to_dict(), first_step, step)]}, tmp)
        os.replace(tmp, ckpt_path)  # never a half-written checkpoint

    params = [p for p in model.parameters() if p.requires_grad]
    model.train()
    bar = tqdm(total=total, initial=step, desc="pretrain", disable=not cfg.progress)
    if eval_features:
        bar.write(json.dumps({"eval_loss_initial": eval_initial, "eval_unigram_loss": eval_unigram}))
    epoch_batches: dict[int, list[list[int]]] = {}
    try:
        while step < total:
            epoch, index = divmod(step, steps_per_epoch)
            if epoch not in epoch_batches:
                epoch_batches = {epoch: length_grouped_batches(lengths, cfg.batch_size, cfg.seed + epoch)}
            batch = _collate(collator, features, epoch_batches[epoch][index], cfg.seed * 1_000_003 + step)
            loss, _ = masked_lm_loss(model, batch)
            loss.backward()
            optimizer_step(params, optimizer, scheduler, cfg.max_grad_norm)
            step += 1
            running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
            bar.update(1)
            bar.set_postfix(loss=f"{running:.3f}")
            if on_step:
                on_step(step, loss.item())
            if stop_at is not None and step >= stop_at and step < total:
                save_checkpoint()
                bar.close()
                return PretrainResult(str(out), step, running, eval_initial, None, len(tokenizer),
                                      sum(p.numel() for p in model.bert.parameters()),
                                      time.perf_counter() - start_time, log, finished=False,
                                      segments=segments + [_segment(cfg.to_dict(), first_step, step)])
            if step % cfg.save_every == 0 or step == total:
                entry = {"step": step, "epoch": step / steps_per_epoch, "train_loss": running,
                         "seconds": time.perf_counter() - start_time}
                if eval_features:
                    entry["eval_loss"] = mlm_loss(model, collator, eval_features, cfg.batch_size)
                    entry["below_unigram"] = eval_unigram - entry["eval_loss"]
                log.append(entry)
                bar.write(json.dumps(entry))
                save_checkpoint()
    except KeyboardInterrupt:
        save_checkpoint()
        bar.close()
        raise
    bar.close()

    with quiet_transformers():  # no "Writing model shards" bar
        model.save_pretrained(str(out))
    tokenizer.save_pretrained(str(out))
    result = PretrainResult(str(out), step, running, eval_initial, log[-1].get("eval_loss") if log else None,
                            len(tokenizer), sum(p.numel() for p in model.bert.parameters()),
                            time.perf_counter() - start_time, log,
                            segments=segments + [_segment(cfg.to_dict(), first_step, step)])
    record = {"config": cfg.to_dict(), "corpus": summary, "train_windows": len(features),
              "eval_windows": len(eval_features), "eval_unigram_loss": eval_unigram,
              "steps_per_epoch": steps_per_epoch, **result.to_dict()}
    (out / RECORD).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    ckpt_path.unlink(missing_ok=True)
    return result


# ----- command line --------------------------------------------------------------------------
def _hold_out(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items or []:
        path, sep, frac = item.rpartition("=")
        if not sep:
            raise ValueError(f"--hold-out: expected PATH=FRACTION, got {item!r}")
        out[path] = float(frac)
    return out


def cmd_pretrain(args) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = PretrainConfig(
        corpus=args.corpus, out=args.out,
        text_columns=args.text_columns.split(",") if args.text_columns else None,
        hold_out=_hold_out(args.hold_out), exclude=args.exclude or [],
        vocab=VocabConfig(kind=args.vocab, vocab_size=args.vocab_size, min_frequency=args.min_frequency),
        layers=args.layers, hidden=args.hidden, heads=args.heads, ffn=args.ffn, max_length=args.max_length,
        batch_size=args.batch_size, lr=args.lr, warmup_ratio=args.warmup_ratio, epochs=args.epochs, max_steps=args.max_steps or None,
        mlm_probability=args.mlm_probability, save_every=args.save_every, seed=args.seed,
        progress=not args.quiet, init=args.init).with_init_shape()
    # SIGTERM (kill, a scheduler's time limit) is handled like Ctrl-C: checkpoint, then stop.
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        result = pretrain(cfg, resume=args.resume, stop_at=args.stop_at)
    except KeyboardInterrupt:
        print(f"interrupted: checkpoint saved in {args.out}; continue with --resume", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not result.finished:
        print(f"stopped at step {result.steps}: checkpoint saved in {args.out}; continue with --resume")
        return 0
    record_path = Path(args.out) / RECORD
    record = json.loads(record_path.read_text())
    record["command"] = "python -m fastbert " + shlex.join(sys.argv[1:])
    record_path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: v for k, v in result.to_dict().items() if k != "log"}))
    print(f"saved backbone to {args.out}; use it with: python -m fastbert train --backbone {args.out} ...")
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("pretrain", help="pre-train a BERT backbone from scratch (masked LM)")
    p.add_argument("--corpus", nargs="+", required=True,
                   help="files of lines (.txt) or data files (TSV, CSV, JSONL) whose text columns are used")
    p.add_argument("--out", required=True, help="backbone directory to write")
    p.add_argument("--text-columns", default=None, help="comma-separated names or 0-based indices")
    p.add_argument("--hold-out", nargs="*", default=[], metavar="PATH=FRACTION",
                   help="use only the train part of `train --dev-fraction FRACTION --seed SEED`'s split of PATH")
    p.add_argument("--exclude", nargs="*", default=[], help="files whose texts are removed (e.g. dev sets)")
    p.add_argument("--vocab", default="auto", choices=["auto", "char", "wordpiece"],
                   help="char: one token per character (Chinese); auto: char if most letters are CJK")
    p.add_argument("--vocab-size", type=int, default=8000, help="WordPiece vocabulary size")
    p.add_argument("--min-frequency", type=int, default=2, help="rarer characters / pieces become [UNK]")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--ffn", type=int, default=1024)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--warmup-ratio", type=float, default=0.06, help="share of the steps with a rising learning rate")
    p.add_argument("--epochs", type=float, default=None, help="passes over the corpus (capped by --max-steps)")
    p.add_argument("--max-steps", type=int, default=3000, help="0: no cap (then give --epochs)")
    p.add_argument("--mlm-probability", type=float, default=0.15)
    p.add_argument("--save-every", type=int, default=250, help="steps between checkpoints and held-out evaluations")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--init", default=None, metavar="DIR",
                   help="continue pre-training a backbone this command saved (its vocabulary and shape; "
                        "new optimiser and schedule)")
    p.add_argument("--stop-at", type=int, default=None, metavar="STEP",
                   help="save a checkpoint after STEP steps and stop (continue later with --resume)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_pretrain)
