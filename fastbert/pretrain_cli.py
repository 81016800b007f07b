"""`python -m fastbert pretrain`: pre-train a BERT backbone from scratch (masked LM); see
`fastbert.training.pretrain`."""
from __future__ import annotations

import json
import shlex
import signal
import sys
from pathlib import Path

import torch

from .training.pretrain import RECORD, PretrainConfig, pretrain
from .vocab import VocabConfig


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
