"""`python -m fastbert pretrain`: pre-train a BERT backbone from scratch (masked LM); see
`fastbert.training.pretrain`.

    python -m fastbert pretrain --corpus a.tsv b.txt --out runs/bert-zh --threads 1
"""
from __future__ import annotations

import json
import signal
import sys
from dataclasses import dataclass, fields
from pathlib import Path

from ..options import command_line, option
from .common import add_command


@dataclass
class PretrainOptions:
    corpus: list[str] = option(help="files of lines (.txt) or data files (TSV, CSV, JSONL) whose text columns "
                                    "are used", action="extend", nargs="+")
    out: str = option(help="backbone directory to write")
    text_columns: str | None = option(None, "comma-separated names or 0-based indices")
    hold_out: list[str] = option([], "use only the train part of `train --dev-fraction FRACTION --seed SEED`'s "
                                     "split of PATH", metavar="PATH=FRACTION", action="extend", nargs="*")
    exclude: list[str] = option([], "files whose texts are removed (e.g. dev sets)", action="extend", nargs="*")
    vocab: str = option("auto", "char: one token per character (Chinese); auto: char if most letters are CJK",
                        choices=["auto", "char", "wordpiece"])
    vocab_size: int = option(8000, "WordPiece vocabulary size")
    min_frequency: int = option(2, "rarer characters / pieces become [UNK]")
    layers: int = option(4, "encoder layers")
    hidden: int = option(256, "hidden size")
    heads: int = option(4, "attention heads")
    ffn: int = option(1024, "feed-forward width")
    max_length: int = option(128, "tokens per window")
    batch_size: int = option(32, "windows per optimisation step")
    lr: float = option(5e-4, "peak learning rate")
    warmup_ratio: float = option(0.06, "share of the steps with a rising learning rate")
    epochs: float | None = option(None, "passes over the corpus (capped by --max-steps)")
    max_steps: int = option(3000, "0: no cap (then give --epochs)")
    mlm_probability: float = option(0.15, "share of tokens masked")
    save_every: int = option(250, "steps between checkpoints and held-out evaluations")
    seed: int = option(0, "seed of the model, the held-out texts, the batches and the masks")
    threads: int = option(0, "torch threads (0: torch's default)")
    resume: bool = option(False, "continue from OUT/checkpoint.pt")
    init: str | None = option(None, "continue pre-training a backbone this command saved (its vocabulary and "
                                    "shape; new optimiser and schedule)", metavar="DIR")
    stop_at: int | None = option(None, "save a checkpoint after STEP steps and stop (continue later with --resume)",
                                 metavar="STEP")
    quiet: bool = option(False, "no progress bar")


def _hold_out(items: list[str]) -> dict[str, float]:
    out = {}
    for item in items or []:
        path, sep, frac = item.rpartition("=")
        if not sep:
            raise ValueError(f"--hold-out: expected PATH=FRACTION, got {item!r}")
        out[path] = float(frac)
    return out


def config(opts: PretrainOptions):
    """The `PretrainConfig` of the options (the fields they share, by name, and the rest)."""
    from ..training.pretrain import PretrainConfig
    from ..vocab import VocabConfig

    special = {"text_columns", "hold_out", "vocab", "max_steps"}
    shared = {f.name: getattr(opts, f.name) for f in fields(PretrainConfig)
              if f.name not in special and hasattr(opts, f.name)}
    return PretrainConfig(
        **shared, text_columns=opts.text_columns.split(",") if opts.text_columns else None,
        hold_out=_hold_out(opts.hold_out), max_steps=opts.max_steps or None, progress=not opts.quiet,
        vocab=VocabConfig(kind=opts.vocab, vocab_size=opts.vocab_size, min_frequency=opts.min_frequency),
    ).with_init_shape()


def cmd_pretrain(opts: PretrainOptions) -> int:
    import torch
    from accelerate import PartialState

    from ..training.pretrain import RECORD, pretrain

    if opts.threads:
        torch.set_num_threads(opts.threads)
    cfg = config(opts)
    # SIGTERM (kill, a scheduler's time limit) is handled like Ctrl-C: checkpoint, then stop.
    previous = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        result = pretrain(cfg, resume=opts.resume, stop_at=opts.stop_at)
    except KeyboardInterrupt:
        print(f"interrupted: checkpoint saved in {opts.out}; continue with --resume", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    if not PartialState().is_main_process:
        return 0
    if not result.finished:
        print(f"stopped at step {result.steps}: checkpoint saved in {opts.out}; continue with --resume")
        return 0
    record_path = Path(opts.out) / RECORD
    record = json.loads(record_path.read_text())
    # rebuilt from the options it ran with: sys.argv is another program's when main() is called from code
    record["command"] = command_line("pretrain", opts)
    record_path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps({k: v for k, v in result.to_dict().items() if k != "log"}))
    print(f"saved backbone to {opts.out}; use it with: python -m fastbert train --backbone {opts.out} ...")
    return 0


def register(subparsers) -> None:
    add_command(subparsers, "pretrain", cmd_pretrain, PretrainOptions,
                help="pre-train a BERT backbone from scratch (masked LM)")
