#!/usr/bin/env bash
# Training time on ChnSentiCorp at 12 layers: more fine-tuning epochs for the shipped model's
# recipe, each continued from the last (a new linear schedule per epoch, a new batch order by
# seed), each followed by a fresh 1-epoch self-distillation:
#   runs/chnsenticorp-12l-more   the shipped model + 1 epoch  (2 epochs of fine-tuning in all)
#   runs/chnsenticorp-12l-more2  that + 1 more epoch          (3 epochs in all)
# Then `python benchmarks/teacher_confidence.py --model DIR --data ../shared/data/chnsenticorp/dev.tsv`
# prints each model's dev accuracy and FLOPs speedup at speeds 0, 0.1, 0.3, 0.5 and 0.8.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 OMP_NUM_THREADS=${THREADS:-1}
T=${THREADS:-1}
S=../shared/data/chnsenticorp
prev=assets/models/chnsenticorp-12l
for k in "" 2; do
  seed=$(( ${k:-1} ))
  ft=runs/chnsenticorp-12l-more$k-ft out=runs/chnsenticorp-12l-more$k
  [ -f $ft/model.safetensors ] || python -m fastbert train --init $prev --train $S/train.tsv --dev $S/dev.tsv \
    --out $ft --stages finetune --epochs 1 --lr 5e-5 --batch-size 32 --max-length 128 --seed $seed \
    --share-base --threads $T --save-every 50
  [ -f $out/model.safetensors ] || python -m fastbert train --init $ft --train $S/train.tsv --dev $S/dev.tsv \
    --out $out --stages distill --distill-epochs 1 --distill-lr 5e-4 --batch-size 32 --seed 0 \
    --share-base --threads $T --save-every 50
  prev=$ft
done
