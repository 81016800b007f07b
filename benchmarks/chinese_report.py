"""Table 2-style rows for the Chinese datasets, written to assets/reports/chinese.md.

    python benchmarks/chinese_report.py --out assets/reports/chinese.md \
        --model chnsenticorp=assets/models/chnsenticorp-zh \
        --baseline chnsenticorp=runs/zh-chnsenticorp-static1 --baseline chnsenticorp=runs/zh-chnsenticorp-static3 \
        --backbone-record runs/bert-zh-192/pretrain.json

For each dataset given with --model: the full model (every layer, teacher classifier only),
FastBERT at speeds 0.1, 0.5 and 0.8, and the static baselines given with --baseline (the
backbone cut to its first layers with `train --num-layers`, fine-tuned), all on that dataset's
dev set, from `fastbert.tools.report.table_rows` (the rows of `python -m fastbert report`). Next to
each row: the paper's figure for the matching row of its Table 2 (BERT-base; FastBERT at the
same speed; DistilBERT with as many layers as the static baseline). The backbone here is far
smaller and pre-trained on a far smaller corpus, so the comparison is of behaviour (how accuracy
falls as the speedup grows), not of absolute accuracy.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

import torch

from fastbert.data import load_dataset
from fastbert.evaluate import all_layer_outputs, sweep
from fastbert.model import FastBert
from fastbert.tools.report import table_rows

# The evaluated split of each dataset: (title, dev file under --data-root, held-out fraction of it
# or 0). LCQMC has no train file here: `train --dev-fraction 0.2` trains on 80% of its dev file and
# evaluates on the other 20%, which is this split (same seed).
DATASETS = {
    "chnsenticorp": ("ChnSentiCorp", "chnsenticorp/dev.tsv", 0.0),
    "book_review": ("Book review", "book_review/dev.tsv", 0.0),
    "shopping": ("Shopping review", "shopping/dev.tsv", 0.0),
    "lcqmc": ("LCQMC (20% of its dev file held out)", "lcqmc/dev.tsv", 0.2),
}

# Liu et al., "FastBERT: a Self-distilling BERT with Adaptive Inference Time", ACL 2020, Table 2
# (12-layer BERT-base, Chinese): (accuracy %, FLOPs speedup) per row.
# Provenance. The paper is not reachable from this environment, so most figures could not be
# checked against it: they were entered from the developer's reading of Table 2 and are marked
# UNVERIFIED in the report. Two Book review figures are checked against the authors' own README
# (autoliuweijie/FastBERT, "Test results on the Book review dataset"): the fine-tuned baseline,
# Acc.=0.8688 at FLOPs=21785247744, and after self-distillation at speed 0.5, Acc.=0.8664 at
# FLOPs=5170940327, i.e. 21785247744 / 5170940327 = 4.21x.
PAPER = {
    "chnsenticorp": {"full": (95.25, 1.00), 0.1: (95.25, 2.02), 0.5: (92.00, 6.82), 0.8: (89.75, 9.40),
                     3: (87.33, 4.01), 1: (81.33, 11.72)},
    "book_review": {"full": (86.88, 1.00), 0.1: (86.88, 1.60), 0.5: (86.64, 4.21), 0.8: (85.14, 7.23),
                    3: (81.17, 4.01), 1: (77.40, 11.72)},
    "shopping": {"full": (96.84, 1.00), 0.1: (96.79, 4.45), 0.5: (96.42, 8.65), 0.8: (95.72, None),
                 3: (94.84, 4.01), 1: (91.35, 11.72)},
    "lcqmc": {"full": (86.68, 1.00), 0.1: (86.59, 1.68), 0.5: (84.05, 3.42), 0.8: (77.45, 6.57),
              3: (84.07, 4.01), 1: (71.34, 11.72)},
}
# The (dataset, row) figures checked against the authors' README (see above); every other is not.
PAPER_CHECKED = {("book_review", "full"), ("book_review", 0.5)}
UNCHECKED_MARK = "†"
PAPER_ROW_NAMES = {"full": "BERT", 0.1: "FastBERT speed 0.1", 0.5: "FastBERT speed 0.5", 0.8: "FastBERT speed 0.8",
                   3: "DistilBERT 3 layers", 1: "DistilBERT 1 layer"}


def _pairs(items: list[str] | None, option: str) -> list[tuple[str, str]]:
    out = []
    for item in items or []:
        key, sep, path = item.partition("=")
        if not sep or key not in DATASETS:
            raise SystemExit(f"{option}: expected DATASET=DIR with DATASET one of {sorted(DATASETS)}, got {item!r}")
        out.append((key, path))
    return out


def dev_data(key: str, data_root: str):
    title, rel, fraction = DATASETS[key]
    data = load_dataset(str(Path(data_root) / rel))
    return data.split(fraction, 0)[1] if fraction else data


def best_speedup_within(model, outputs, points: float = 1.0) -> dict:
    """The largest FLOPs speedup over speeds 0, 0.05, ..., 1 whose accuracy is at most `points`
    below the full model's (teacher only)."""
    full = sweep(model, outputs, [0.0])[0]
    ok = [r for r in sweep(model, outputs, [k / 20 for k in range(21)])
          if 100 * (full.accuracy - r.accuracy) <= points]
    best = max(ok, key=lambda r: r.flops_speedup) if ok else None
    return {"points": points, "speed": best.speed if best else None,
            "accuracy": best.accuracy if best else None, "speedup": best.flops_speedup if best else None}


def compare_rows(dirs: list[str], data, ref_flops: float) -> tuple[list[str], list[dict]]:
    """Other fine-tuned models on the same dev set (e.g. the same shape from a random
    initialisation): their full model (every layer, teacher only)."""
    lines, recs = [], []
    for d in dirs:
        m = FastBert.from_pretrained(d)
        r = sweep(m, all_layer_outputs(m, data), [0.0])[0]
        rec = {"model": d, "backbone": m.config.backbone, "layers": m.num_layers, "accuracy": r.accuracy,
               "flops": r.full_flops_per_sample, "speedup": ref_flops / r.full_flops_per_sample,
               "command": m.metadata().get("command")}
        lines.append(f"| `{d}` ({m.num_layers} layer{'s' * (m.num_layers > 1)}, backbone `{m.config.backbone}`) | "
                     f"{100 * r.accuracy:.2f}% | {rec['flops'] / 1e6:.1f}M | {rec['speedup']:.2f}x |")
        recs.append(rec)
    return lines, recs


def dataset_section(key: str, model_dir: str, baseline_dirs: list[str], data_root: str,
                    compare_dirs: list[str] = ()) -> tuple[str, dict]:
    title = DATASETS[key][0]
    model = FastBert.from_pretrained(model_dir)
    data = dev_data(key, data_root)
    outputs = all_layer_outputs(model, data)
    loaded = sorted(((d, FastBert.from_pretrained(d)) for d in baseline_dirs), key=lambda db: db[1].num_layers)
    baselines = [b for _, b in loaded]
    rows = table_rows(model, data, outputs, baselines, timing=False)
    paper_keys = ["full", 0.1, 0.5, 0.8] + [b.num_layers for b in baselines]
    lines = [f"### {title}: {len(data)} dev rows", "",
             "| row | accuracy | FLOPs / sample | FLOPs speedup | paper row (BERT-base) | paper accuracy | paper speedup |",
             "|---|---:|---:|---:|---|---:|---:|"]
    for row, pk in zip(rows, paper_keys):
        acc, sp = PAPER[key].get(pk, (None, None))
        mark = "" if (key, pk) in PAPER_CHECKED else UNCHECKED_MARK
        lines.append(f"| {row['name']} | {100 * row['accuracy']:.2f}% | {row['flops'] / 1e6:.1f}M | "
                     f"{row['speedup']:.2f}x | {PAPER_ROW_NAMES.get(pk, '–')} | "
                     f"{'–' if acc is None else f'{acc:.2f}%{mark}'} | {'–' if sp is None else f'{sp:.2f}x{mark}'} |")
    within = best_speedup_within(model, outputs)
    meta = model.metadata()
    commands = meta.get("commands") or ([meta["command"]] if "command" in meta else [])
    lines += ["", f"Largest FLOPs speedup within 1 point of the full model (speeds 0 to 1 in steps of 0.05): "
              + (f"{within['speedup']:.2f}x at speed {within['speed']:g} ({100 * within['accuracy']:.2f}%)."
                 if within["speed"] is not None else "none.")]
    data_meta = meta.get("data", {})
    train_meta = data_meta.get("train") or {}
    lines += ["", f"Model: `{model_dir}` ({model.num_layers} layers, backbone `{model.config.backbone}`), trained on `{train_meta.get('path')}` "
              f"({train_meta.get('rows', '?'):,} rows" + (", the rest of the file after the dev split" if DATASETS[key][2] else "")
              + f"); made by:", ""]
    lines += [f"    {c}" for c in commands]
    lines += [f"    {b.metadata().get('command', '(no command recorded)')}" for _, b in loaded]
    compared = []
    if compare_dirs:
        extra, compared = compare_rows(list(compare_dirs), data, rows[0]["flops"])
        lines += ["", "Compared (same dev set; speedup against the full model above):", "",
                  "| model | accuracy | FLOPs / sample | FLOPs speedup |", "|---|---:|---:|---:|"] + extra
        lines += ["", "Made by:", ""] + [f"    {c['command']}" for c in compared]
    return "\n".join(lines) + "\n", {"dataset": key, "model": model_dir, "rows": len(data), "table": rows,
                                     "within_1_point": within, "baselines": baseline_dirs, "compared": compared}


def backbone_section(record_path: str) -> tuple[str, dict]:
    rec = json.loads(Path(record_path).read_text())
    cfg = rec["config"]
    last = rec["log"][-1] if rec.get("log") else {}
    unigram = rec.get("eval_unigram_loss")
    start = (f"continued from `{cfg['init']}` with `pretrain --init` (a new optimiser and schedule)"
             if cfg.get("init") else "pre-trained from scratch here with `python -m fastbert pretrain`")
    text = (f"Backbone `{Path(record_path).parent}`: BERT {start}: {cfg['layers']} layers, "
            f"hidden {cfg['hidden']}, {cfg['heads']} heads, FFN {cfg['ffn']}, character vocabulary of "
            f"{rec['vocab_size']:,} tokens, {rec['parameters']:,} parameters with the embeddings (Chinese BERT-base: "
            f"12 layers, hidden 768, about 102M). {rec['steps']:,} steps of {cfg['batch_size']} windows of at most {cfg['max_length']} tokens "
            f"({rec['steps'] / rec['steps_per_epoch']:.2f} passes over {rec['train_windows']:,} windows). "
            f"Held-out masked-LM loss: {rec['eval_loss_initial']:.3f} at "
            f"{'the start' if cfg.get('init') else 'initialisation'}, "
            f"{rec['eval_loss']:.3f} at the end"
            + (f"; a context-free unigram model scores {unigram:.3f} (the plateau), so the encoder "
               f"{'uses' if rec['eval_loss'] < unigram - 0.1 else 'does not yet use'} the context "
               f"({unigram - rec['eval_loss']:.2f} nats below it)." if unigram is not None else ".")
            + "\nCorpus: " + ", ".join(f"`{c['path']}` ({c['used']:,} texts)" for c in rec["corpus"]) + "; "
            f"texts of {', '.join(f'`{p}`' for p in cfg['exclude'])} removed"
            + (f"; of {', '.join(f'`{p}`' for p in cfg['hold_out'])} only the training part of the split "
               f"(the held-out {', '.join(f'{v:.0%}' for v in cfg['hold_out'].values())} is LCQMC's dev set here)"
               if cfg["hold_out"] else "") + ". Labels are never read.\n"
            + (" Run in segments (checkpoint, then `--resume`): "
               + "; ".join(f"steps {g['start_step']}-{g['end_step']} on a schedule for {g['max_steps']} steps"
                           for g in rec.get("segments", [])) + "." if len(rec.get("segments", [])) > 1 else "")
            + f"\nCommand (the last segment): `{rec.get('command', '(not recorded)')}`\n")
    return text, {"backbone": {k: rec.get(k) for k in ("config", "vocab_size", "parameters", "steps", "eval_loss_initial",
                                                       "eval_loss", "eval_unigram_loss", "command", "seconds")}}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", action="append", required=True, help="DATASET=DIR (repeatable)")
    p.add_argument("--baseline", action="append", help="DATASET=DIR: a static baseline (repeatable)")
    p.add_argument("--compare", action="append", help="DATASET=DIR: another model to list (repeatable)")
    p.add_argument("--backbone-record", action="append", default=[],
                   help="a backbone's pretrain.json (repeatable: one per backbone the models use)")
    p.add_argument("--data-root", default="../shared/data")
    p.add_argument("--out", default="assets/reports/chinese.md")
    p.add_argument("--notes", default=None, help="a markdown file whose text goes after the tables")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    models = _pairs(args.model, "--model")
    baselines = _pairs(args.baseline, "--baseline")
    compares = _pairs(args.compare, "--compare")
    parts = ["# Chinese datasets: FastBERT on a small backbone pre-trained here", "",
             "Dev accuracy and FLOPs (2 x multiply-adds, counted on each sample's real token count; "
             "speedup = full model / spent) of each row; next to it the matching row of the paper's Table 2, "
             "which used 12-layer BERT-base pre-trained on a large Chinese corpus. Compare the behaviour "
             "(accuracy lost for a given speedup), not the accuracy itself.", ""]
    record: dict = {"datasets": []}
    record["backbones"] = []
    for path in args.backbone_record:
        text, rec = backbone_section(path)
        parts += [text]
        record["backbones"].append({"record": path, **rec["backbone"]})
    parts += ["The paper's columns are for orientation only. Figures marked " + UNCHECKED_MARK + " could not be "
              "checked against the paper here (it is not reachable from this environment): they were entered from "
              "a reading of its Table 2 and may contain errors; check the paper before quoting them. The unmarked "
              "Book review figures are checked against the authors' README (autoliuweijie/FastBERT: 86.88% at "
              "21,785M FLOPs fine-tuned; 86.64% at 5,171M FLOPs, 4.21x, self-distilled at speed 0.5; test set). "
              "The paper's static rows are DistilBERT with 3 and 1 layers; ours are the backbone cut to its first "
              "layers and fine-tuned (`train --num-layers`).", ""]
    for key, model_dir in models:
        text, rec = dataset_section(key, model_dir, [d for k, d in baselines if k == key], args.data_root,
                                    [d for k, d in compares if k == key])
        parts += [text]
        record["datasets"].append(rec)
    if args.notes:
        parts += [Path(args.notes).read_text()]
    parts += ["## Regenerate", "", "```", "python benchmarks/chinese_report.py " + shlex.join(sys.argv[1:]), "```", ""]
    out = Path(args.out)
    out.write_text("\n".join(parts))
    out.with_suffix(".json").write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n")
    print("\n".join(parts))


if __name__ == "__main__":
    main()
