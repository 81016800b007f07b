"""`python -m fastbert distill`: train a student from a FastBERT teacher with labels only,
vanilla KD or Universal-KD (IL, CG, CA), and the SST-2 report comparing them (`--report`).

The teacher is frozen, so its per-layer outputs on the training set are computed once and
kept in memory; every student and seed then trains against that cache.
"""
from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .data import TextDataset, load_dataset
from .training.kd import METHODS, SPACES, DistillWeights
from .training.student import (DistillConfig, TeacherOutputs, cache_path, teacher_outputs,
                               train_and_validation)
from .training.student_scores import distil_one, save_bert_student, teacher_scores
from .training.students import STUDENT_KINDS

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
