"""Two sections of `assets/reports/universal_kd.md` (see `demo/ukd_report.py`): the scale of the
logits behind λ's dot products, and the held-out tuning grids (T, γ and, for the tuned-τ rows, the
λ temperature τ)."""
from __future__ import annotations

import statistics

from fastbert.training.distill_study import run_tau
from fastbert.training.student_scores import METHOD_NAMES


def scale_section(report: dict, groups: dict) -> list[str]:
    """How large the logits are (the dot products behind λ scale with them) and how sharply each
    sample's λ picks a teacher layer."""
    t = report.get("teacher_dev", {}).get("logit_norm")
    lines = ["Mean L2 norm of the pseudo-classifiers' logit vectors on dev (the dot products f_i^t · f_j^s "
             "grow with the product of the two norms), and the per-sample peak of λ (the mean over dev sentences "
             "of max_i λ_ij: the batch-averaged λ above can be flat while each sentence picks one layer).", ""]
    if t:
        lines += [f"- teacher, layers 1..{len(t)}: " + " / ".join(f"{v:.2f}" for v in t), ""]
    lines += ["| row | f read as | student logit norm per layer | per-sample peak of λ per layer |", "|---|---|---|---|"]
    for (kind, method, space), runs in groups.items():
        norms = [r["logit_norm"] for r in runs if r.get("logit_norm")]
        peaks = [r["lambda_peak"] for r in runs if r.get("lambda_peak")]
        if not norms:
            continue
        mean = [statistics.fmean(c) for c in zip(*norms)]
        peak = [statistics.fmean(c) for c in zip(*peaks)] if peaks else []
        lines.append(f"| {kind} / {METHOD_NAMES[method]} | {space or runs[0].get('space', 'probs')} | "
                     + " / ".join(f"{v:.2f}" for v in mean) + " | " + " / ".join(f"{v:.3f}" for v in peak) + " |")
    lines += ["", "(λ and its peak are measured in the row's reading; labels-only and vanilla-KD rows in the "
                  "logits reading, as a diagnostic.)", ""]
    probe = report.get("scale_probe")
    if probe:
        lines += ["No training, only the formula on the teacher's dev logits: a stand-in student whose logits are "
                  "the teacher's last layer times a scale c (it agrees with the teacher; only its scale changes). "
                  "A temperature τ on the dot products is the same as c = 1/τ.", "",
                  "| scale c | student logit norm | λ over teacher layers 1..N (dev mean) | per-sample peak of λ |",
                  "|---|---|---|---|"]
        lines += [f"| {p['scale']:g} | {p['student_logit_norm']:.2f} | " + " / ".join(f"{v:.3f}" for v in p["lambda"])
                  + f" | {p['peak']:.3f} |" for p in probe]
        lines.append("")
    return lines


def _grid_points(r: dict, report: dict) -> list[tuple[str, str, float]]:
    """(row key, grid name, value) of each tuning grid a seed-0 run belongs to: T for vanilla KD, γ
    for Universal-KD at τ = 1, τ for a tuned-τ row (whose τ = 1 point is its plain row's run at the
    chosen γ)."""
    if r["method"] == "none":
        return []
    if not r["method"].startswith("ukd-"):
        return [("/".join([r["student"], r["method"]]), "T", r["temperature"])]
    key = "/".join([r["student"], r["method"], r.get("space", "probs")])
    tau = run_tau(r)
    if tau != 1.0:
        return [(key + "/tau", "τ", tau)]
    out = [(key, "γ", r["gamma"])]
    plain = report.get("chosen", {}).get(key, {})
    if key + "/tau" in report.get("rows", []) and plain.get("gamma") == r["gamma"]:
        out.append((key + "/tau", "τ", 1.0))
    return out


def tuning_section(report: dict) -> list[str]:
    runs = report.get("runs", []) + report.get("tuning", [])
    seed0 = (report.get("seeds") or [0])[0]
    lines = [f"Seed {seed0}, accuracy (%) on the {report.get('settings', {}).get('val_size', '?')} held-out train "
             "rows for each grid value; **bold** = chosen (best; the first on ties). Universal-KD rows use their "
             "student's chosen T; a tuned-τ row (key ending /tau) uses its plain row's chosen γ, and beside each τ is that "
             "run's largest dev λ (a diagnostic, not used for the choice).", "",
             "| row | grid | held-out accuracy (%) |", "|---|---|---|"]
    chosen = report.get("chosen", {})
    rows: dict = {}
    for r in runs:
        if r["seed"] != seed0 or r.get("val_accuracy") is None:
            continue
        for key, name, v in _grid_points(r, report):
            lam = max((x for row in r.get("lambdas") or [] for x in row), default=None)
            rows.setdefault(key, (name, {}))[1][v] = (100 * r["val_accuracy"], lam if name == "τ" else None)
    for key, (name, vals) in rows.items():
        pick = chosen.get(key, {}).get({"γ": "gamma", "T": "temperature", "τ": "tau"}[name])
        cells = [(f"**{name}={v:.3g}: {a:.2f}**" if v == pick else f"{name}={v:.3g}: {a:.2f}")
                 + ("" if lam is None else f" (largest λ on dev {lam:.3f})")
                 for v, (a, lam) in sorted(vals.items(), reverse=name == "τ")]
        lines.append(f"| {key} | {name} | {', '.join(cells)}{'' if pick is not None else ' (grid unfinished)'} |")
    return lines + [""]
