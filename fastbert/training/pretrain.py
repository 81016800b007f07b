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
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..backbone import quiet_transformers
from ..vocab import VocabConfig, build_tokenizer
from .loop import Hooks, LoopConfig, Progress, train_loop
from .mlm import _collate, _flat, build_model, encode, load_model, masked_lm_loss, mlm_loss, read_corpus, unigram_loss

CHECKPOINT = "checkpoint.pt"
RECORD = "pretrain.json"
# Fields that fix the model's and the data's shape: a checkpoint only resumes under the same ones.
_SHAPE_FIELDS = ("init", "corpus", "text_columns", "hold_out", "exclude", "layers", "hidden", "heads", "ffn",
                 "max_length", "batch_size", "seed", "eval_fraction", "vocab")


@dataclass(kw_only=True)
class PretrainConfig(LoopConfig):
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
    lr: float = 5e-4
    epochs: float | None = None  # None: as many as max_steps takes
    max_steps: int | None = 3000
    mlm_probability: float = 0.15
    eval_fraction: float = 0.01
    save_every: int = 250  # steps between checkpoints (OUT/checkpoint.pt) and held-out evaluations
    init: str | None = None
    desc: str = "pretrain"

    def __post_init__(self) -> None:
        if isinstance(self.vocab, dict):
            self.vocab = VocabConfig(**self.vocab)
        if not self.corpus:
            raise ValueError("corpus: give at least one file")
        for name in ("layers", "hidden", "heads", "ffn", "batch_size", "save_every"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1, got {getattr(self, name)}")
        if self.hidden % self.heads:
            raise ValueError(f"heads: must divide hidden={self.hidden}, got {self.heads}")
        if self.max_length < 8:
            raise ValueError(f"max_length: must be at least 8, got {self.max_length}")
        if not 0 < self.mlm_probability < 1:
            raise ValueError(f"mlm_probability: must be in (0, 1), got {self.mlm_probability}")
        if not 0 <= self.eval_fraction < 0.5:
            raise ValueError(f"eval_fraction: must be in [0, 0.5), got {self.eval_fraction}")
        for path, frac in self.hold_out.items():
            if not 0 < frac < 1:
                raise ValueError(f"hold_out: fraction for {path} must be in (0, 1), got {frac}")
        self.resume_file, self.eval_every = str(Path(self.out) / CHECKPOINT), self.save_every
        super().__post_init__()

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




def _resume_state(path: Path, cfg: PretrainConfig, resume: bool) -> dict | None:
    if path.is_file() and not resume:
        raise ValueError(f"{path} exists: pass --resume to continue it, or choose another --out")
    if resume and not path.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint at {path}")
    if not resume:
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    extra = state.get("extra", state)  # checkpoints written before the one loop kept these at the top
    _check_resumable(extra["config"], cfg)
    return {**extra, "step": state["step"], "old_format": "weights" not in state}


def _upgrade_checkpoint(path: Path, model) -> None:
    """Rewrite a checkpoint of the earlier pre-training loop (a whole state dict) as the loop's
    resume point (the parameters, by name)."""
    old = torch.load(path, map_location="cpu", weights_only=True)
    weights = {f"mlm.{n}": old["model"][n] for n, _ in model.named_parameters()}
    new = {"step": old["step"], "running": old["running_loss"], "log": old["log"], "weights": weights,
           "optimizer": old["optimizer"], "scheduler": old["scheduler"], "rng": torch.get_rng_state(),
           "extra": {k: old[k] for k in ("config", "eval_loss_initial", "segments") if k in old}}
    tmp = path.with_suffix(".tmp")
    torch.save(new, tmp)
    os.replace(tmp, path)


class _MaskedLM(torch.nn.Module):
    """The loss as a module's forward, so that Accelerate's DistributedDataParallel sees the step."""

    def __init__(self, mlm):
        super().__init__()
        self.mlm = mlm

    def forward(self, batch: dict) -> torch.Tensor:
        return masked_lm_loss(self.mlm, batch)[0]


@dataclass
class _Corpus:
    tokenizer: object
    features: list[dict]
    eval_features: list[dict]
    summary: list[dict]


def _prepare_corpus(cfg: PretrainConfig, out: Path, resumed: bool) -> _Corpus:
    """Read and split the corpus, learn (or reload) the vocabulary, cut the token windows."""
    from transformers import AutoTokenizer

    texts, summary = read_corpus(cfg)
    n_eval = min(1000, round(len(texts) * cfg.eval_fraction))
    # A seeded choice of held-out texts, so a resumed run holds out the same ones.
    order = torch.randperm(len(texts), generator=torch.Generator().manual_seed(cfg.seed)).tolist()
    eval_texts = [texts[r] for r in sorted(order[:n_eval])]
    train_texts = [texts[r] for r in sorted(order[n_eval:])]
    out.mkdir(parents=True, exist_ok=True)
    if resumed:
        tokenizer = AutoTokenizer.from_pretrained(str(out), trust_remote_code=False)
    else:
        tokenizer = (AutoTokenizer.from_pretrained(cfg.init, trust_remote_code=False) if cfg.init
                     else build_tokenizer(_flat(train_texts), cfg.vocab, cfg.max_length))
        tokenizer.save_pretrained(str(out))  # first, so that a resumed run reuses this vocabulary
    return _Corpus(tokenizer, encode(tokenizer, train_texts, cfg.max_length),
                   encode(tokenizer, eval_texts, cfg.max_length), summary)


def pretrain(cfg: PretrainConfig, resume: bool = False, on_step: Callable[[int, float], None] | None = None,
             stop_at: int | None = None) -> PretrainResult:
    """Pre-train and save a BERT backbone into `cfg.out`; returns what it did.

    on_step(step, loss) is called after each optimiser step (1-based step).
    A KeyboardInterrupt (Ctrl-C, or SIGTERM under the CLI) saves a checkpoint, then propagates.
    stop_at: save a checkpoint after that step and return (finished=False), as an interruption
    would, but at a chosen step (training in time slices; reproducing a resumed run exactly).
    """
    from tqdm.auto import tqdm
    from transformers import DataCollatorForLanguageModeling

    start_time, out = time.perf_counter(), Path(cfg.out)
    state = _resume_state(out / CHECKPOINT, cfg, resume)
    if cfg.init and Path(cfg.init).resolve() == out.resolve():
        raise ValueError("--init: write the continued backbone to another --out than the one it starts from")
    corpus = _prepare_corpus(cfg, out, state is not None)
    collator = DataCollatorForLanguageModeling(corpus.tokenizer, mlm_probability=cfg.mlm_probability)
    model = build_model(cfg, corpus.tokenizer) if state is not None or not cfg.init else load_model(cfg.init)
    if state is not None and state["old_format"]:
        _upgrade_checkpoint(out / CHECKPOINT, model)
    evals = corpus.eval_features
    if state is not None:
        eval_initial, first_step = state["eval_loss_initial"], state["step"]
        segments = state.get("segments") or [_segment(state["config"], 0, first_step)]
    else:
        eval_initial, first_step, segments = (mlm_loss(model, collator, evals, cfg.batch_size) if evals else None), 0, []
    # The plateau to get below: a held-out MLM loss near it means no context has been learnt yet.
    eval_unigram = unigram_loss(corpus.features, evals, len(corpus.tokenizer)) if evals else None
    if evals:
        tqdm.write(json.dumps({"eval_loss_initial": eval_initial, "eval_unigram_loss": eval_unigram}))

    def evaluate(p: Progress) -> dict:
        entry = p.to_dict()
        if evals:
            entry["eval_loss"] = mlm_loss(model, collator, evals, cfg.batch_size)
            entry["below_unigram"] = eval_unigram - entry["eval_loss"]
        return entry

    def segments_to(step: int) -> list[dict]:
        return segments + [_segment(cfg.to_dict(), first_step, step)]

    hooks = Hooks(evaluate=evaluate, on_log=lambda e: tqdm.write(json.dumps(e)), on_step=on_step,
                  extra_state=lambda step: {"config": cfg.to_dict(), "eval_loss_initial": eval_initial,
                                            "segments": segments_to(step)})
    features = corpus.features
    # The masks come from the global generator (the collator has no seed), seeded per step:
    # the same step always masks the same way, whether or not the run was resumed.
    run = train_loop(_MaskedLM(model), list(model.parameters()), lambda m, batch: m(batch),
                     [len(f["input_ids"]) for f in features],
                     lambda rows, step: _collate(collator, features, rows, cfg.seed * 1_000_003 + step), cfg,
                     hooks, stop_at)
    result = PretrainResult(str(out), run.steps, run.train_loss, eval_initial,
                            run.log[-1].get("eval_loss") if run.log and run.finished else None,
                            len(corpus.tokenizer), sum(p.numel() for p in model.bert.parameters()),
                            time.perf_counter() - start_time, run.log, run.finished, segments_to(run.steps))
    if run.finished:
        _save(model, corpus, cfg, result, eval_unigram)
    return result


def _save(model, corpus: _Corpus, cfg: PretrainConfig, result: PretrainResult, eval_unigram: float | None) -> None:
    from accelerate import PartialState

    if not PartialState().is_main_process:  # under `accelerate launch`, one process saves
        return
    out = Path(cfg.out)
    with quiet_transformers():  # no "Writing model shards" bar
        model.save_pretrained(str(out))
    corpus.tokenizer.save_pretrained(str(out))
    record = {"config": cfg.to_dict(), "corpus": corpus.summary, "train_windows": len(corpus.features),
              "eval_windows": len(corpus.eval_features), "eval_unigram_loss": eval_unigram,
              "steps_per_epoch": -(-len(corpus.features) // cfg.batch_size), **result.to_dict()}
    (out / RECORD).write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    (out / CHECKPOINT).unlink(missing_ok=True)
