"""Table 2-style rows for the Chinese datasets, written to assets/reports/chinese.md (+ .json).

    python benchmarks/chinese_report.py --out assets/reports/chinese.md \
        --model chnsenticorp=assets/models/chnsenticorp-zh \
        --baseline chnsenticorp=runs/zh-chnsenticorp-static1 --baseline chnsenticorp=runs/zh-chnsenticorp-static3 \
        --backbone-record runs/bert-zh-192/pretrain.json

For each section given with --model: the full model (every layer, teacher classifier only),
FastBERT at speeds 0.1, 0.5 and 0.8, and the static baselines given with --baseline (the
backbone cut to its first layers with `train --num-layers`, fine-tuned), all on that dataset's
dev set, from `fastbert.tools.report.table_rows` (the rows of `python -m fastbert report`). Next to
each row: the paper's figure for the matching row of its Table 2 (BERT-base; FastBERT at the
same speed; DistilBERT with as many layers as the static baseline), read from --paper-table.

Each section is measured into a record (benchmarks/chinese_records.py), stored in the .json,
and rendered from it. `--previous assets/reports/chinese.json` re-renders the stored sections
(all, or those named with --keep) without their models, so that a run can add or replace one
section and keep the rest. A section key is a dataset key, or DATASET-SUFFIX for another model on
the same dataset (e.g. `--model chnsenticorp-12l=DIR --title "chnsenticorp-12l=ChnSentiCorp, 12 layers"`).
`--rename OLD=NEW` keeps a stored section under a new key (with --title and --note for it), so
that a new model can be measured under the old key while the old model's rows stay beside it.
"""
from __future__ import annotations

import argparse
import json
import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import torch

from fastbert.checkpoint import command_chain
from fastbert.data import load_dataset
from fastbert.evaluate import all_layer_outputs, sweep
from fastbert.model import FastBert
from fastbert.tools.report import static_row, table_rows

from chinese_records import (NOT_RECORDED, PAPER_SPEEDS, Baseline, ExitFigures, PaperTableError, SectionRecord, load_paper_table,
                             render_backbone, render_section, render_summary)


@dataclass(frozen=True)
class Dataset:
    """The evaluated split of a dataset: its name in the paper's table, a title, its dev file
    under --data-root and the held-out fraction of that file (0: the whole file is the dev set)."""
    paper: str
    title: str
    dev_file: str
    held_out: float = 0.0


# LCQMC, Weibo and THUCNews have no train file here: `train --dev-fraction 0.2` trains on 80% of
# the dev file and evaluates on the other 20% (seed 0), which is the split evaluated here.
DATASETS = {
    "chnsenticorp": Dataset("ChnSentiCorp", "ChnSentiCorp", "chnsenticorp/dev.tsv"),
    "book_review": Dataset("Book review", "Book review", "book_review/dev.tsv"),
    "shopping": Dataset("Shopping review", "Shopping review", "shopping/dev.tsv"),
    "lcqmc": Dataset("LCQMC", "LCQMC (20% of its dev file held out)", "lcqmc/dev.tsv", 0.2),
    "weibo": Dataset("Weibo", "Weibo (20% of its dev file held out)", "weibo/dev.tsv", 0.2),
    "thucnews": Dataset("THUCNews", "THUCNews titles (20% of its dev file held out)", "thucnews_titles/dev.tsv", 0.2),
}


def dataset_of(key: str) -> str:
    """The dataset key of a section key: `chnsenticorp` or `chnsenticorp-12l` -> `chnsenticorp`."""
    name = key.split("-", 1)[0]
    if name not in DATASETS:
        raise SystemExit(f"section {key!r}: expected DATASET or DATASET-SUFFIX with DATASET one of {sorted(DATASETS)}")
    return name


def _pairs(items: list[str] | None, option: str) -> list[tuple[str, str]]:
    out = []
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"{option}: expected KEY=VALUE, got {item!r}")
        dataset_of(key)
        out.append((key, value))
    return out


def dev_data(key: str, data_root: str):
    ds = DATASETS[dataset_of(key)]
    data = load_dataset(str(Path(data_root) / ds.dev_file))
    return data.split(ds.held_out, 0)[1] if ds.held_out else data


def best_speedup_within(model, outputs, points: float = 1.0) -> dict:
    """The largest FLOPs speedup over speeds 0, 0.05, ..., 1 whose accuracy is at most `points`
    below the full model's (teacher only)."""
    full = sweep(model, outputs, [0.0])[0]
    ok = [r for r in sweep(model, outputs, [k / 20 for k in range(21)])
          if round(100 * (full.accuracy - r.accuracy), 6) <= points]
    best = max(ok, key=lambda r: r.flops_speedup) if ok else None
    return {"points": points, "speed": best.speed if best else None,
            "accuracy": best.accuracy if best else None, "speedup": best.flops_speedup if best else None}


def exit_figures(model, outputs) -> list[ExitFigures]:
    """Mean exit layer and share leaving at layer 1 at the paper's speeds (its Figure 6)."""
    return [ExitFigures(r.speed, r.mean_exit_layer, r.exit_histogram[0] / r.num_samples, r.exit_histogram)
            for r in sweep(model, outputs, PAPER_SPEEDS)]


def compare_rows(dirs: list[str], data, ref_flops: float) -> list[dict]:
    """Other fine-tuned models on the same dev set (e.g. the same shape from a random
    initialisation): their full model (every layer, teacher only)."""
    recs = []
    for d in dirs:
        m = FastBert.from_pretrained(d)
        r = sweep(m, all_layer_outputs(m, data), [0.0])[0]
        recs.append({"model": d, "backbone": m.config.backbone, "layers": m.num_layers, "accuracy": r.accuracy,
                     "flops": r.full_flops_per_sample, "speedup": ref_flops / r.full_flops_per_sample,
                     "commands": command_chain(m.metadata())})
    return recs


def _paper_model(row_name: str, baseline_layers: dict[str, int]) -> str | None:
    """The paper's row matching one of `table_rows`' rows (None if the paper has none)."""
    if row_name.startswith("Full model"):
        return "BERT"
    if row_name.startswith("FastBERT speed="):
        speed = float(row_name.split("=")[1])
        return f"FastBERT (speed={speed:g})" if speed in PAPER_SPEEDS else None
    layers = baseline_layers.get(row_name)
    return f"DistilBERT ({layers} layers)" if layers in (1, 3, 6) else None


def measure_section(key: str, model_dir: str, baseline_dirs: list[str], data_root: str,
                    compare_dirs: list[str] = (), title: str | None = None,
                    measured_by: str = "", calibrated: bool = True) -> SectionRecord:
    """Measure one section: every figure it prints, as a record (no paper figures).
    calibrated=False: exits on the raw probabilities of a model that has temperatures (the paper's)."""
    ds = DATASETS[dataset_of(key)]
    model = FastBert.from_pretrained(model_dir)
    calibrated = calibrated and model.config.temperatures is not None
    data = dev_data(key, data_root)
    outputs = all_layer_outputs(model, data, calibrated=calibrated)
    loaded = sorted(((d, FastBert.from_pretrained(d)) for d in baseline_dirs), key=lambda db: db[1].num_layers)
    baselines = [Baseline(d, b.num_layers, b.metadata().get("command")) for d, b in loaded]
    rows = table_rows(model, data, outputs, [b for _, b in loaded], timing=False)
    static_names = {row["name"]: b.layers for row, b in zip(rows[len(rows) - len(baselines):], baselines)}
    for row in rows:
        row["paper_model"] = _paper_model(row["name"], static_names)
    meta = model.metadata()
    train = (meta.get("data") or {}).get("train") or {}
    return SectionRecord(
        key=key, dataset=ds.paper, title=title or ds.title, dev_rows=len(data), model=model_dir,
        layers=model.num_layers, backbone=model.config.backbone, train_path=train.get("path"),
        train_rows=train.get("rows"), train_note=", the rest of the file after the dev split" if ds.held_out else "",
        commands=command_chain(meta) or None, baselines=baselines,
        table=rows, within_1_point=best_speedup_within(model, outputs), exits=exit_figures(model, outputs),
        compared=compare_rows(list(compare_dirs), data, rows[0]["flops"]) if compare_dirs else [],
        calibrated=calibrated,
        measured_by=[{"what": "every figure", "command": measured_by}] if measured_by else [])


def backbone_record(path: str) -> dict:
    """The fields of a backbone's pretrain.json that its paragraph prints."""
    rec = json.loads(Path(path).read_text())
    keep = ("config", "vocab_size", "parameters", "steps", "steps_per_epoch", "train_windows", "corpus", "segments",
            "eval_loss_initial", "eval_loss", "eval_unigram_loss", "command", "seconds")
    return {"record": path, **{k: rec.get(k) for k in keep}}


def add_exits(rec: SectionRecord, model_dir: str, data_root: str, command: str) -> None:
    """Measure the exit figures of a stored section whose model is still here, after checking that
    the model gives exactly the stored rows (full model and speeds) on the same dev set, with or
    without its calibration as the record says."""
    if rec.calibrated is None:
        raise SystemExit(f"--add-exits {rec.key}: the record does not say whether the exits were calibrated")
    model = FastBert.from_pretrained(model_dir)
    outputs = all_layer_outputs(model, dev_data(rec.key, data_root), calibrated=rec.calibrated)
    rows = table_rows(model, dev_data(rec.key, data_root), outputs, [], timing=False)
    stored = [r for r in rec.table if not r["name"].startswith("Static")]
    if model_dir != rec.model or [(r["name"], r["accuracy"], r["flops"]) for r in rows] != \
            [(r["name"], r["accuracy"], r["flops"]) for r in stored]:
        raise SystemExit(f"--add-exits {rec.key}={model_dir}: this model does not give the stored rows of "
                         f"`{rec.model}`; measure the section again with --model instead")
    rec.exits = exit_figures(model, outputs)
    rec.measured_by = [m for m in rec.measured_by if m["what"] != "the exit layers"]
    rec.measured_by.append({"what": "the exit layers", "command": command})


def _section(sections: list[SectionRecord], key: str, option: str, stored: bool = True) -> SectionRecord:
    """The section under `key`; none is an error that names `option` and the keys there are."""
    rec = next((s for s in sections if s.key == key), None)
    if rec is None:
        noun, listed = ("stored section", "stored") if stored else ("section", "sections")
        raise SystemExit(f"{option} {key}: no such {noun}; {listed}: {[s.key for s in sections]}")
    return rec


def add_baseline(rec: SectionRecord, directory: str, data_root: str, command: str) -> None:
    """A static baseline measured into a stored section (whose model may be gone), on its dev set,
    its FLOPs speedup against the stored full model's FLOPs; the static rows stay sorted by depth.
    A baseline of a depth the section already has is an error."""
    b = FastBert.from_pretrained(directory)
    if any(x.layers == b.num_layers for x in rec.baselines):
        raise SystemExit(f"--add-baseline {rec.key}={directory}: the section already has a {b.num_layers}-layer baseline")
    row = static_row(b, dev_data(rec.key, data_root), rec.table[0]["flops"], timing=False)
    row["paper_model"] = _paper_model(row["name"], {row["name"]: b.num_layers})
    rec.baselines.append(Baseline(directory, b.num_layers, b.metadata().get("command")))
    rec.table.append(row)
    rec.measured_by.append({"what": f"the {b.num_layers}-layer static baseline", "command": command})
    static = sorted((r for r in rec.table if r["name"].startswith("Static")), key=lambda r: int(r["name"].split()[2]))
    rec.table = [r for r in rec.table if not r["name"].startswith("Static")] + static
    rec.baselines.sort(key=lambda b: b.layers)


def load_previous(path: str, keep: list[str]) -> tuple[list[SectionRecord], list[dict]]:
    """The stored sections to keep (all when `keep` is empty) and the stored backbone records."""
    stored = json.loads(Path(path).read_text(encoding="utf-8"))
    sections = [SectionRecord.from_dict(s) for s in stored["sections"]]
    unknown = sorted(set(keep) - {s.key for s in sections})
    if unknown:
        raise SystemExit(f"--keep {', '.join(unknown)}: not in {path}; stored sections: {[s.key for s in sections]}")
    return [s for s in sections if not keep or s.key in keep], stored.get("backbones", [])


def rename_kept(kept: list[SectionRecord], renames: list[tuple[str, str]]) -> None:
    """Give stored sections new keys (`--rename OLD=NEW`); NEW must be free and of the same dataset."""
    for old, new in renames:
        rec = next((s for s in kept if s.key == old), None)
        if rec is None:
            raise SystemExit(f"--rename {old}={new}: no stored section {old!r}; stored: {[s.key for s in kept]}")
        if any(s.key == new for s in kept) or dataset_of(new) != dataset_of(old):
            raise SystemExit(f"--rename {old}={new}: {new!r} is taken or is another dataset's key")
        rec.key = new


def place_renamed(sections: list[SectionRecord], renames: list[tuple[str, str]]) -> list[SectionRecord]:
    """The section now holding a renamed section's old key, if any, moved to the renamed one's
    place, with the renamed one right after it."""
    out = list(sections)
    for old, new in renames:
        current = next((s for s in out if s.key == old), None)
        if current is not None:
            out.remove(current)
            out.insert(next(i for i, s in enumerate(out) if s.key == new), current)
    return out


def merge(old: list, new: list, key) -> list:
    """`old` with each item replaced by the `new` one of the same key, then the other new ones."""
    fresh = {key(n): n for n in new}
    out = [fresh.pop(key(o), o) for o in old]
    return out + [n for n in new if key(n) in fresh]


def _command_block(command: str) -> list[str]:
    return ["", "```", command, "```"]


def regenerate_text(command: str, sections: list[SectionRecord], backbones: list[dict],
                    fresh_backbones: set[str], previous: str | None) -> list[str]:
    """The `## Regenerate` section: what this run measured, and by which earlier command each
    figure it re-rendered from the stored records was measured."""
    lines = ["## Regenerate", "", "This file and the `.json` beside it were written by:", *_command_block(command)]
    steps: dict[str, list[str]] = {}
    for s in sections:
        for step in s.measured_by or [{"what": "every figure", "command": NOT_RECORDED}]:
            steps.setdefault(step["command"], []).append(f"{s.title} (`{s.key}`): {step['what']}")
    if command in steps:
        lines += ["", "Measured by that run (models loaded, dev sets evaluated): " + "; ".join(steps.pop(command)) + "."]
    if steps:
        lines += ["", f"Re-rendered from the records stored in `{previous}` (`--previous`), not measured again "
                  "(the paper's columns are read anew from the table; every other figure is the stored one):"]
        for cmd, items in steps.items():
            lines += ["", "; ".join(items) + ", measured by:", *_command_block(cmd)]
    old_backbones = [b["record"] for b in backbones if b["record"] not in fresh_backbones]
    if old_backbones:
        lines += ["", "Backbone paragraphs re-rendered from stored records: "
                  + ", ".join(f"`{r}`" for r in old_backbones) + "."]
    return lines + [""]


INTRO = ("Dev accuracy and FLOPs (2 x multiply-adds, counted on each sample's real token count; speedup = full model / "
         "spent) of each row; next to it the matching row of the paper's Table 2, which used 12-layer BERT-base "
         "pre-trained on a large Chinese corpus. Compare the behaviour (accuracy lost for a given speedup), not the "
         "accuracy itself.")


def paper_paragraph(paper_table: str) -> str:
    return (f"The paper's columns are read from `{paper_table}`, the paper's Table 2 (all 84 cells; see "
            "`../shared/paper/README.md`): for each row, the paper's row of the same kind on the same dataset "
            "(BERT-base for the full model, FastBERT at the same speed, DistilBERT with as many layers as the "
            "static baseline); the paper's rows with no row here are listed under each table. The paper's static "
            "rows are DistilBERT, distilled from BERT; ours are the backbone cut to its first layers and "
            "fine-tuned (`train --num-layers`).\n")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", action="append", help="SECTION=DIR: measure a section (repeatable); SECTION is "
                   f"a dataset ({', '.join(DATASETS)}) or DATASET-SUFFIX")
    p.add_argument("--baseline", action="append", help="SECTION=DIR: a static baseline (repeatable)")
    p.add_argument("--compare", action="append", help="SECTION=DIR: another model to list (repeatable)")
    p.add_argument("--title", action="append", help="SECTION=TEXT: the section's title (default: the dataset's)")
    p.add_argument("--previous", default=None, help="a chinese.json whose stored sections are re-rendered")
    p.add_argument("--keep", action="append", default=[], help="SECTION: keep only these stored sections (repeatable)")
    p.add_argument("--rename", action="append", help="OLD=NEW: keep the stored section OLD under the key NEW "
                   "(placed right after the section now under OLD)")
    p.add_argument("--note", action="append", help="SECTION=TEXT: a paragraph under the section's title")
    p.add_argument("--add-exits", action="append", help="SECTION=DIR: measure the exit layers of a stored "
                   "section with its model, which must give the stored rows")
    p.add_argument("--add-baseline", action="append", help="SECTION=DIR: measure a static baseline into a "
                   "stored section (its model may be gone)")
    p.add_argument("--backbone-record", action="append", default=[],
                   help="a backbone's pretrain.json (repeatable: one per backbone the models use)")
    p.add_argument("--paper-table", default="../shared/paper/fastbert_table2.tsv")
    p.add_argument("--data-root", default="../shared/data")
    p.add_argument("--out", default="assets/reports/chinese.md")
    p.add_argument("--notes", default=None, help="a markdown file whose text goes after the tables")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--no-calibration", action="store_true",
                   help="exit on the raw probabilities of models that have temperatures (the paper's exits)")
    args = p.parse_args(argv)
    if not args.model and not args.previous:
        p.error("give --model SECTION=DIR, or --previous FILE to re-render stored sections")
    if (args.keep or args.rename) and not args.previous:
        p.error("--keep and --rename need --previous FILE")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    command = "python benchmarks/chinese_report.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        paper = load_paper_table(args.paper_table)
    except PaperTableError as e:
        raise SystemExit(str(e)) from None
    torch.set_num_threads(args.threads)
    titles = dict(_pairs(args.title, "--title"))
    baselines, compares = _pairs(args.baseline, "--baseline"), _pairs(args.compare, "--compare")
    kept, old_backbones = load_previous(args.previous, args.keep) if args.previous else ([], [])
    renames = _pairs(args.rename, "--rename")
    rename_kept(kept, renames)
    for key, model_dir in _pairs(args.add_exits, "--add-exits"):
        add_exits(_section(kept, key, "--add-exits"), model_dir, args.data_root, command)
    for key, baseline_dir in _pairs(args.add_baseline, "--add-baseline"):
        add_baseline(_section(kept, key, "--add-baseline"), baseline_dir, args.data_root, command)
    measured = [measure_section(key, d, [b for k, b in baselines if k == key], args.data_root,
                                [c for k, c in compares if k == key], titles.get(key), command,
                                calibrated=not args.no_calibration)
                for key, d in _pairs(args.model, "--model")]
    sections = place_renamed(merge(kept, measured, key=lambda s: s.key), renames)
    for key, text in _pairs(args.note, "--note"):
        _section(sections, key, "--note", stored=False).note = text
    for key, text in titles.items():
        rec = next((s for s in sections if s.key == key), None)
        if rec is not None:
            rec.title = text
    fresh = [backbone_record(p) for p in args.backbone_record]
    backbones = merge(old_backbones, fresh, key=lambda b: b["record"])
    parts = ["# Chinese datasets: FastBERT next to the paper's Table 2", "", INTRO, ""]
    summary = render_summary(sections, paper)
    parts += [summary] if summary else []
    parts += [render_backbone(b) for b in backbones] + [paper_paragraph(args.paper_table)]
    # The paper's depth first, then shallower models (the 4-layer backbone pre-trained here).
    parts += [render_section(s, paper) for s in sorted(sections, key=lambda s: -s.layers)]
    if args.notes:
        parts += [Path(args.notes).read_text(encoding="utf-8")]
    parts += regenerate_text(command, sections, backbones, set(args.backbone_record), args.previous)
    out = Path(args.out)
    out.write_text("\n".join(parts), encoding="utf-8")
    record = {"sections": [s.to_dict() for s in sections], "backbones": backbones, "written_by": command}
    out.with_suffix(".json").write_text(json.dumps(record, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print("\n".join(parts))


if __name__ == "__main__":
    main()
