#!/usr/bin/env bash
# Regenerate assets/reports/universal_kd.md (+ its lambda heatmap) and the distilled 2-layer
# student runs/sst2-student-2l/ (8.7 MB, kept out of assets/ for its size budget; `python app.py --model runs/sst2-student-2l` shows it) from the FastBERT teacher assets/models/sst2-minilm.
# CPU-sized: a seeded 8k-row subset of SST-2 train, 1 epoch, 3 seeds x 10 rows (about half an hour
# on one core). The BERT-style student starts as the teacher's first two layers (a continuation that
# already works, 87% before distillation; layers 1 and 6 do not fit together and stayed near 80%).
# Extra arguments are passed on, e.g. --train-size 16000 or --resume.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m fastbert distill --report \
    --teacher assets/models/sst2-minilm \
    --train ../shared/data/sst2/train.tsv --dev ../shared/data/sst2/dev.tsv \
    --train-size 8000 --subset-seed 0 --epochs 1 --seeds 0,1,2 --layers 1,2 \
    --alpha 1 --beta 1 --gamma 1 --temperature 2 \
    --save-student runs/sst2-student-2l --save-method ukd-il \
    --report-out assets/reports/universal_kd.md --threads 1 --quiet "$@"
