"""Two sections of `assets/reports/universal_kd.md` (see `demo/ukd_report.py`): the scale of the
logits behind λ's dot products, the averaged λ at every λ temperature τ that was run, and the
held-out tuning grids (T, γ and, for the tuned-τ rows, τ)."""
from __future__ import annotations

import statistics

from fastbert.tools.seeds import mean_matrix, seed_stats
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
    if tau != 1.0:  # a --probe-taus run outside the τ grid is no grid point
        grid = [round(t, 6) for t in report.get("grids", {}).get("tau") or []]
        return [(key + "/tau", "τ", tau)] if round(tau, 6) in grid else []
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


def _tau_groups(report: dict) -> dict[tuple[str, float], dict[int, dict]]:
    """(logits Universal-KD row key, τ) -> {seed: run}, for the runs at that row's chosen T and γ."""
    chosen = report.get("chosen", {})
    out: dict = {}
    for r in report.get("runs", []) + report.get("tuning", []):
        if not r["method"].startswith("ukd-") or r.get("space", "probs") != "logits" or not r.get("lambdas"):
            continue
        key = "/".join([r["student"], r["method"], "logits"])
        plain = chosen.get(key)
        if plain is None or any(round(float(plain[k]), 6) != round(float(r[k]), 6) for k in ("temperature", "gamma")):
            continue  # another point of the γ grid: not comparable across τ
        out.setdefault((key, run_tau(r)), {})[int(r["seed"])] = r
    return out


def lambda_by_tau_section(report: dict) -> list[str]:
    """The largest cell of the seed-averaged λ at every τ run for each logits Universal-KD row (the
    row's chosen T and γ), with how that τ came to be run, and the ≥ 0.4 target over all seeds."""
    seeds = report.get("seeds") or []
    chosen = report.get("chosen", {})
    probe = {round(t, 6) for t in report.get("grids", {}).get("probe_tau") or []}
    groups = _tau_groups(report)
    n = next((len(r["lambdas"][0]) for by_seed in groups.values() for r in by_seed.values()), 0)  # teacher layers
    lines = ["The largest cell of λ averaged over dev sentences and over the seeds run at that τ, for each logits "
             f"Universal-KD row at its chosen T and γ (uniform: 1/{n} = {1 / max(n, 1):.3f}). τ = 1 is the paper's formula; "
             "'tuned' is the τ the held-out rows chose; 'fixed' τ were run at every seed to measure λ "
             "(`--probe-taus`), never chosen; a 'grid' τ has only its seed-0 tuning run.", "",
             "| row | τ | seeds | largest averaged λ | dev accuracy (%), mean ± sd | how this τ was run |",
             "|---|---:|---:|---|---|---|"]
    whole = []
    for (key, tau), by_seed in sorted(groups.items(), key=lambda kv: (kv[0][0], -kv[0][1])):
        runs = [by_seed[s] for s in sorted(by_seed)]
        mat = mean_matrix([r["lambdas"] for r in runs])
        value, j, i = max((v, j, i) for j, row in enumerate(mat) for i, v in enumerate(row))
        kind = key.split("/")[0]
        cell = f"{value:.3f} ({'S' if kind == 'bert' else kind + ' '}{j + 1} on T{i + 1})"
        acc = seed_stats([100 * r["accuracy"] for r in runs])
        sd = f" ± {acc.std:.2f}" if acc.std is not None else ""
        how = ", ".join(x for x in ("paper's formula" if tau == 1.0 else "",
                                    "tuned" if chosen.get(key + "/tau", {}).get("tau") == tau else "",
                                    "fixed" if round(tau, 6) in probe else "") if x) or "grid"
        lines.append(f"| {key} | {tau:.3g} | {len(runs)} | {cell} | {acc.mean:.2f}{sd} | {how} |")
        if seeds and set(seeds) <= set(by_seed):
            whole.append((value, key, tau))
    lines.append("")
    if whole:
        met = sorted({t for v, _, t in whole if v >= 0.4}, reverse=True)
        at1 = max((v for v, _, t in whole if t == 1.0), default=None)
        lines += ["Target (some student layer puts ≥ 0.4 of its averaged λ on one teacher layer, over all "
                  f"{len(seeds)} seeds): " + (f"met at τ ≤ {min(met):.3g}: " + "; ".join(
                      f"{k} at τ = {t:.3g}: {v:.3f}" for v, k, t in sorted(whole, reverse=True) if v >= 0.4)
                      if met else "not met at any τ run over all seeds")
                  + (f". At τ = 1 (the paper's formula) the largest is {at1:.3f}." if at1 is not None else "."), ""]
    return lines
