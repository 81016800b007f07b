#!/usr/bin/env bash
# Regenerate assets/reports/universal_kd.md (+ its lambda heatmaps) and the distilled 2-layer
# student runs/sst2-student-2l/ (8.7 MB, kept out of assets/ for its size budget; `python app.py --model runs/sst2-student-2l` shows it) from the FastBERT teacher assets/models/sst2-minilm.
# CPU-sized: a seeded 8k-row subset of SST-2 train, 1 epoch; 1,000 other train rows held out to tune
# the KD temperature T (per student kind) and the Universal-KD weight gamma (per row) at seed 0;
# then 5 seeds of 14 rows (Universal-KD in both readings of f: logits and probabilities). 81 runs
# (25 at seed 0 for the grids T in {1,4}, gamma in {1,3}, then 56), 30 s (BiLSTM, gated CNN) to
# 100 s (BERT-style) each on one free core: about 70 min. --tau-grid adds a twin of each of the 4
# logits Universal-KD rows with lambda's temperature tau tuned (at that row's T and gamma) on the same
# held-out rows: 12 more grid runs at seed 0 (tau = 1 is the plain row's run), then up to 16 seeds.
# --probe-taus runs every seed of those 4 rows at tau = 1/5 and 1/10 as well, whatever the tuning chose,
# to measure how far lambda picks one teacher layer over seeds (at most 32 more runs, fewer reused).
# The study appends every finished run to assets/reports/universal_kd_runs.json and resumes from it,
# so it can be stopped and restarted; the report can be written from a partial JSON at any time:
#   python -m demo.ukd_report assets/reports/universal_kd_runs.json
# Extra arguments are passed on to the study, e.g. --train-size 16000.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m fastbert distill --report \
    --teacher assets/models/sst2-minilm \
    --train ../shared/data/sst2/train.tsv --dev ../shared/data/sst2/dev.tsv \
    --train-size 8000 --val-size 1000 --subset-seed 0 --epochs 1 --seeds 0,1,2,3,4 --layers 1,2 \
    --alpha 1 --beta 1 --t-grid 1,4 --gamma-grid 1,3 --tau-grid 1,1/3,1/5,1/10 --probe-taus 1/5,1/10 --spaces logits,probs \
    --save-student runs/sst2-student-2l --save-method ukd-il --save-space logits \
    --runs-out assets/reports/universal_kd_runs.json --threads 1 --quiet "$@"
python -m demo.ukd_report assets/reports/universal_kd_runs.json
