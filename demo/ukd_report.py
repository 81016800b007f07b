"""Write `assets/reports/universal_kd.md` and its λ heatmaps from the study's runs JSON (complete
or partial): `python -m demo.ukd_report assets/reports/universal_kd_runs.json`.

The JSON is written run by run by `python -m fastbert distill --report`
(`fastbert/distill_study.py`); this module only reads it, so the report can be regenerated at
any time without training. Runs the study planned but has not finished are listed as missing.
"""
from __future__ import annotations

import argparse
import csv
import math
import statistics
import sys
from pathlib import Path

from fastbert.tools.seeds import mean_matrix, seed_stats
from fastbert.training.distill_options import reading_label
from fastbert.training.student_scores import METHOD_NAMES

from .student import Heatmap, reading_text, runs_by_row
from .ukd_report_sections import lambda_by_tau_section, scale_section, tuning_section
from .student_charts import lambda_figure

ROOT = Path(__file__).resolve().parent.parent
PAPER_TSV = ROOT.parent / "shared" / "paper" / "universal_kd_tables.tsv"
KINDS = {"bert": "BERT-style, 2 layers (teacher layers 1,2)", "bilstm": "BiLSTM, 3 layers, width 256",
         "gated-cnn": "gated CNN, 3 layers, width 256"}
# Our row -> the paper's row (table, setting, model) whose SST-2 column is shown beside it.
PAPER_ROWS = {("bert", "none"): ("ILD", "", "BERT-4"), ("bert", "kd"): ("ILD", "", "Vanilla KD"),
              ("bert", "ukd-il"): ("ILD", "", "Universal-KD (IL)"), ("bert", "ukd-cg"): ("CG", "", "Universal-KD (CG)"),
              ("bilstm", "none"): ("CA", "BiLSTM", "w/o KD"), ("bilstm", "kd"): ("CA", "BiLSTM", "Vanilla KD"),
              ("bilstm", "ukd-ca"): ("CA", "BiLSTM", "Universal-KD (CA)"),
              ("gated-cnn", "none"): ("CA", "Gated-CNN", "w/o KD"), ("gated-cnn", "kd"): ("CA", "Gated-CNN", "Vanilla KD"),
              ("gated-cnn", "ukd-ca"): ("CA", "Gated-CNN", "Universal-KD (CA)")}
PAPER_SETTINGS = {"ILD": "Table 2, BERT-base → BERT-4", "CG": "Table 4, RoBERTa-large → DistilRoBERTa",
                  "CA": "Table 5, BERT-base → {}"}
NOTES_BEGIN, NOTES_END = "<!-- notes: kept when the report is regenerated -->", "<!-- end of notes -->"


def paper_sst2(path: Path = PAPER_TSV) -> dict[tuple[str, str, str], float]:
    """(table, setting, model) -> the paper's SST-2 dev accuracy; empty when the file is missing."""
    if not path.is_file():
        return {}
    with path.open() as f:
        return {(r["table"], r["setting"], r["model"]): float(r["SST-2"]) for r in csv.DictReader(f, delimiter="\t")}


def mean_se(values: list[float]) -> tuple[float, float | None]:
    """Mean and standard error of the mean (None for one value)."""
    stats = seed_stats(values)
    return stats.mean, stats.se


def paired(a: list[dict], b: list[dict]) -> tuple[float, float | None, int] | None:
    """Mean over shared seeds of accuracy(a) - accuracy(b), in points, its standard error, and n."""
    acc_b = {r["seed"]: r["accuracy"] for r in b}
    d = [100 * (r["accuracy"] - acc_b[r["seed"]]) for r in a if r["seed"] in acc_b]
    return (*mean_se(d), len(d)) if d else None


def _pm(m: float, se: float | None, n: int) -> str:
    return f"{m:+.2f} ± {se:.2f} (n={n})" if se is not None else f"{m:+.2f} (n=1, no error bar)"


def _acc(runs: list[dict]) -> str:
    stats = seed_stats([100 * r["accuracy"] for r in runs])
    sd = f" ± {stats.std:.2f}" if stats.std is not None else ""
    return f"{stats.mean:.2f}{sd} (n={stats.n})"


def _row_label(key: tuple[str, str, str]) -> str:
    kind, method, space = key
    return f"{kind} / {METHOD_NAMES[method]}" + (f" ({space})" if space else "")


def group_of(key: str, chosen: dict) -> tuple[str, str, str]:
    """The runs group of a planned row key: 'bert/ukd-il/logits/tau' -> ('bert', 'ukd-il',
    'logits, τ=0.333') at its chosen τ ('logits, τ tuned' while untuned; a τ of 1 is the plain row)."""
    parts = key.split("/") + ["", ""]
    space = parts[2]
    if parts[3] == "tau":
        tau = chosen.get(key, {}).get("tau")
        space = reading_label(space, tau) if tau is not None else f"{space}, τ tuned"
    return parts[0], parts[1], space


def missing_runs(report: dict, groups: dict) -> tuple[list[str], int]:
    """'row: seeds …' for every planned row and seed that has no study run yet, and the number of
    planned (row, seed) pairs that have one."""
    out, done = [], 0
    chosen = report.get("chosen", {})
    for key in report.get("rows", []):
        k = group_of(key, chosen)
        have = {r["seed"] for r in groups.get(k, [])}
        lack = [s for s in report.get("seeds", []) if s not in have]
        done += len(report.get("seeds", [])) - len(lack)
        if lack:
            out.append(f"{_row_label(k)}: seed{'s' if len(lack) > 1 else ''} {', '.join(map(str, lack))}"
                       + ("" if key in chosen or k[1] == "none" else " (not tuned yet)"))
    return out, done


def main_table(report: dict, groups: dict, paper: dict) -> list[str]:
    t = report.get("teacher_dev", {})
    lines = ["| student | method | f read as | T | γ | SST-2 dev accuracy (%), ours: mean ± sd over seeds "
             "| paper's SST-2 | paper's setting |", "|---|---|---|---|---|---|---|---|"]
    if "accuracy" in t:
        lines.append(f"| teacher: FastBERT `{report.get('teacher')}` ({len(t.get('layer_accuracy', []))} layers) | — | "
                     f"| | | {100 * t['accuracy']:.2f} | {paper.get(('ILD', '', 'BERT-base'), '—')} | BERT-base teacher |")
    for (kind, method, space), runs in groups.items():
        tab, setting, model = PAPER_ROWS.get((kind, method), ("", "", ""))
        where = PAPER_SETTINGS.get(tab, "").format(setting) + (f": {model}" if model else "")
        g = runs[0].get("gamma") if method.startswith("ukd-") else None
        temp = runs[0].get("temperature") if method != "none" else None
        lines.append(f"| {KINDS.get(kind, kind)} | {METHOD_NAMES[method]} | {space or '—'} | "
                     f"{'' if temp is None else f'{temp:g}'} | {'' if g is None else f'{g:g}'} | {_acc(runs)} | "
                     f"{paper.get((tab, setting, model), '—')} | {where} |")
    return lines


def comparisons(groups: dict) -> list[str]:
    """Universal-KD minus vanilla KD and each KD minus labels only, paired by seed, with SE."""
    lines = ["| student | comparison | difference (points), mean ± SE over seeds | verdict |", "|---|---|---|---|"]
    below = []
    for (kind, method, space), runs in groups.items():
        pairs = []
        if method.startswith("ukd-") and (kind, "kd", "") in groups:
            pairs.append(("vanilla KD", groups[(kind, "kd", "")]))
        if method != "none" and (kind, "none", "") in groups:
            pairs.append(("labels only", groups[(kind, "none", "")]))
        plain = (kind, method, space.partition(",")[0])
        if plain != (kind, method, space) and plain in groups:
            pairs.append((f"{METHOD_NAMES[method]} ({plain[2]})", groups[plain]))
        for name, base in pairs:
            p = paired(runs, base)
            if p is None:
                continue
            m, se, n = p
            verdict = ("—" if se is None else "ahead (> 2 SE)" if m > 2 * se else
                       "behind (> 2 SE)" if m < -2 * se else "within 2 SE")
            this = METHOD_NAMES[method] + (f" ({space})" if space else "")
            lines.append(f"| {kind} | {this} − {name} | {_pm(m, se, n)} | {verdict} |")
            if name == "labels only" and m < 0:
                below.append(f"{_row_label((kind, method, space))}: {m:+.2f} points below labels only"
                             + (f" ({verdict})" if se is not None else " (one seed)"))
    return lines, below


def heatmaps(groups: dict, space: str, n_teacher: int) -> list[Heatmap]:
    out = []
    for (kind, method, sp), runs in groups.items():
        mats = [r["lambdas"] for r in runs if sp == space and method.startswith("ukd-") and r.get("lambdas")]
        if mats:
            names = [f"S{j + 1}" for j in range(len(mats[0]))] if kind == "bert" else \
                [f"{kind} {j + 1}" for j in range(len(mats[0]))]
            out.append(Heatmap(f"{kind} / {METHOD_NAMES[method]} (mean over {len(mats)} seed"
                               f"{'s' if len(mats) > 1 else ''})", mean_matrix(mats), names,
                               [f"T{i + 1}" for i in range(n_teacher)]))
    return out


def lambda_section(groups: dict, out_md: Path, n_teacher: int, png: bool) -> list[str]:
    lines = []
    spaces = {k[2] for k in groups if k[1].startswith("ukd-")}
    for space in sorted(spaces, key=lambda sp: (sp.partition(",")[0] != "logits", sp)):  # logits, its τs, probs
        hs = heatmaps(groups, space, n_teacher)
        if not hs:
            continue
        stem = out_md.with_name(f"{out_md.stem}_lambda_{space.replace(', τ=', '_tau').replace(' ', '_')}")
        fig = lambda_figure(hs, f"Universal-KD attention λ, {space} reading (dev set, mean over seeds)")
        fig.write_html(f"{stem}.html", include_plotlyjs="cdn")  # not with_suffix: 'tau0.333' has a dot
        if png:  # kaleido drives a headless Chromium: seconds, so tests skip it
            fig.write_image(f"{stem}.png", width=900, scale=1)
        best = max(((v, h.title, h.student_layers[j], h.teacher_layers[i]) for h in hs
                    for j, row in enumerate(h.lambdas) for i, v in enumerate(row)))
        lines += [f"### {space} reading ({reading_text(space)})", "",
                  f"![λ, {space} reading]({stem.name}.png) (interactive: [{stem.name}.html]({stem.name}.html))", "",
                  f"Largest averaged λ: {best[0]:.3f} ({best[1]}, {best[2]} on {best[3]}); uniform is "
                  f"1/{n_teacher} = {1 / n_teacher:.3f}. Target ({space} reading): some student layer puts ≥ 0.4 "
                  f"on one teacher layer: " + ("met." if best[0] >= 0.4 else "not met.") if space.startswith("logits") else
                  f"Largest averaged λ: {best[0]:.3f} ({best[1]}, {best[2]} on {best[3]}); the cap of this "
                  f"reading is e/(e+{n_teacher - 1}) = {math.e / (math.e + n_teacher - 1):.3f}.", ""]
        for h in hs:
            for name, row in zip(h.student_layers, h.lambdas):
                lines.append(f"- {h.title}, {name}: " + " ".join(f"{v:.3f}" for v in row))
        lines.append("")
    return lines


def kept_notes(path: Path) -> list[str]:
    """The hand-written analysis (what is not a number from the runs): `<report>_notes.md` beside
    the report when it exists, else the notes block of the existing report."""
    notes_file = path.with_name(path.stem + "_notes.md")
    if notes_file.is_file():
        return notes_file.read_text().splitlines() + [""]
    if not path.is_file():
        return []
    text = path.read_text()
    if NOTES_BEGIN not in text or NOTES_END not in text:
        return []
    return text[text.index(NOTES_BEGIN):text.index(NOTES_END) + len(NOTES_END)].splitlines() + [""]


def cost_lines(report: dict, groups: dict) -> list[str]:
    t = report.get("teacher_dev", {})
    out = ["FLOPs per sample: mean over dev of the full forward pass (every layer, then the output classifier; "
           "fvcore, 2 × multiply-adds; embedding lookups not counted). Parameters: all, pseudo-classifiers "
           "included (in brackets: without the frozen word-embedding matrix shared with the teacher).", ""]
    if "flops_per_sample" in t:
        out.append(f"- teacher: {t['params'] / 1e6:.1f}M parameters, {t['flops_per_sample'] / 1e6:.1f}M FLOPs")
    seen = set()
    for (kind, _, _), runs in groups.items():
        if kind not in seen:
            seen.add(kind)
            r = runs[0]
            out.append(f"- {KINDS.get(kind, kind)}: {r['params'] / 1e6:.2f}M ({r['params_without_word_embeddings'] / 1e6:.2f}M) "
                       f"parameters, {r['flops_per_sample'] / 1e6:.1f}M FLOPs")
    return out + [""]


def _header(report: dict, groups: dict, n_teacher: int) -> list[str]:
    """Title, the two readings, the budget, the tuning protocol and the status (missing runs)."""
    planned = len(report.get("rows", [])) * len(report.get("seeds", []))
    missing, done = missing_runs(report, groups)
    taus = report.get("grids", {}).get("tau")
    s = report.get("settings", {})
    return [
        "# Universal-KD vs vanilla KD on SST-2 (dev), both readings of f",
        "",
        "Universal-KD (Wu et al., EMNLP 2021) distils each student layer j towards an attention-weighted mixture "
        "of the teacher's layers, compared through pseudo-classifiers (`fastbert/distill.py`): "
        "λ_ij = softmax_i(f_i^t · f_j^s), F^t(j) = Σ_i λ_ij f_i^t. Two readings of f are compared: **logits** "
        "(f = W h, l(j) = KL(softmax F^t(j) ‖ softmax f_j^s), the paper's Sim_Univ as written) and **probs** "
        "(f = softmax(W h), l(j) = KL(F^t(j) ‖ f_j^s), this project's earlier reading). The teacher's "
        f"{n_teacher} FastBERT per-layer classifiers are its pseudo-classifiers.",
        "",
        f"**Reduced budget (CPU):** {report.get('data', '')}. SST-2 train has 67,349 rows; the students see "
        f"{s.get('train_size', '?')} of them ({100 * s.get('train_size', 0) / 67349:.1f}%) for {s.get('epochs', '?')} "
        f"epoch, not the paper's full data and epochs. Batch size {s.get('batch_size')}, α={s.get('alpha')}, "
        f"β={s.get('beta')}. T (per student, from vanilla KD) and γ (per row) were chosen on the held-out train "
        f"rows at seed {(report.get('seeds') or [0])[0]}, grids T ∈ {report.get('grids', {}).get('temperature')}, "
        f"γ ∈ {report.get('grids', {}).get('gamma')}"
        + (f"; rows marked τ (f read as 'logits, τ=…') are the logits reading with λ = softmax_i(f_i^t · f_j^s / τ), "
           f"τ chosen the same way from {{{', '.join(f'{t:.3g}' for t in taus)}}} at the plain row's T and γ (τ = 1 is "
           "the paper's formula)" if taus else "")
        + f"; the dev set was not used for any choice. Seeds "
        f"{report.get('seeds')} (a seed sets initialisation, batch order and dropout; the data are the same).",
        "",
        f"**Status: {done} of {planned} planned runs finished.**"
        + (" Missing (not run yet, no number is shown for them): " + "; ".join(missing) + "." if missing else "")
        + "".join(f" `{key}` chose τ = 1 on the held-out rows: it is its plain logits row (counted for both)."
                  for key, c in report.get("chosen", {}).items() if key.endswith("/tau") and c.get("tau") == 1.0),
        "",
        "The earlier study (probabilities reading only, γ = 1 and T = 2 untuned, 3 seeds) is in git: "
        "`git show ee6bdc1:assets/reports/universal_kd.md`.",
        "",
        "## SST-2 dev accuracy, shaped like the paper's Tables 2, 4 and 5",
        "",
        "The paper's column is its own SST-2 result (GLUE dev, full data, BERT-base or RoBERTa-large teachers) "
        f"for reference only: the settings differ (our teacher is a {n_teacher}-layer FastBERT model, "
        f"{s.get('train_size', '?')} training rows, {s.get('epochs', '?')} epoch).",
        "",
    ]


def write_report(runs_json: Path, out_md: Path, paper_tsv: Path = PAPER_TSV, png: bool = True) -> Path:
    """The report from the runs JSON (complete or partial). Returns the path written."""
    import json

    report = json.loads(Path(runs_json).read_text())
    groups = runs_by_row(report)
    out_md.parent.mkdir(parents=True, exist_ok=True)
    n_teacher = len(report.get("teacher_dev", {}).get("layer_accuracy", [])) or 6
    lines = _header(report, groups, n_teacher)
    lines += main_table(report, groups, paper_sst2(paper_tsv)) + [""] + cost_lines(report, groups)
    comp, below = comparisons(groups)
    lines += ["## Universal-KD against vanilla KD, and KD against labels only", "",
              "Differences of dev accuracy, paired by seed (the same seed gives both runs the same initialisation "
              "and batch order), mean ± standard error over seeds; 'ahead'/'behind' only when beyond 2 SE. One "
              "dev sentence is 0.11 points.", ""] + comp + [""]
    lines += (["**Where KD lands below training on labels only (mean over seeds):** " + "; ".join(below) + "."]
              if below else ["No KD row lands below its labels-only row on the mean over seeds."] if len(comp) > 2
              else ["No comparison yet: no row has a finished run beside its baseline."]) + [""]
    lines += ["## λ: which teacher layers each student layer attends to", ""]
    lines += lambda_section(groups, out_md, n_teacher, png)
    lines += ["### λ at each temperature τ, over seeds", ""] + lambda_by_tau_section(report)
    lines += ["## Logit scales and the dot product", ""] + scale_section(report, groups)
    lines += ["## Tuning (held-out train rows, not dev)", ""] + tuning_section(report)
    lines += ["## Per-seed dev accuracies (%)", ""]
    lines += [f"- {_row_label(k)}: " + ", ".join(f"seed {r['seed']}: {100 * r['accuracy']:.2f}" for r in runs)
              for k, runs in groups.items()]
    lines += ["", "Regenerate: `bash scripts/universal_kd_report.sh` (runs the study, resuming from "
              f"`{Path(runs_json).name}`, then this report); the report alone, from a partial or complete runs "
              f"JSON: `python -m demo.ukd_report {runs_json}`. The study's command: `{report.get('command', '')}`.", ""]
    lines += kept_notes(out_md)
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text("\n".join(lines) + "\n")
    return out_md


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs_json", nargs="?", default="assets/reports/universal_kd_runs.json")
    p.add_argument("--out", default=None, help="default: universal_kd.md beside the runs JSON")
    p.add_argument("--paper", default=str(PAPER_TSV), help="the paper's tables (TSV)")
    p.add_argument("--no-png", action="store_true", help="write the heatmaps as HTML only")
    a = p.parse_args(argv)
    runs = Path(a.runs_json)
    out = Path(a.out) if a.out else runs.with_name("universal_kd.md")
    try:
        if not a.no_png:
            from fastbert.tools.report_figures import check_png_export

            check_png_export()  # kaleido is an optional extra: say so before any work
        print(f"report written to {write_report(runs, out, Path(a.paper), png=not a.no_png)}")
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
