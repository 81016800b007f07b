#!/usr/bin/env bash
# Training time on ChnSentiCorp at 12 layers: more fine-tuning epochs for the shipped model's
# recipe, each continued from the last (a new linear schedule per epoch, a new batch order by
# seed), each followed by a fresh 1-epoch self-distillation:
#   runs/chnsenticorp-12l-more   the 1-epoch model + 1 epoch  (2 epochs of fine-tuning in all)
#   runs/chnsenticorp-12l-more2  that + 1 more epoch          (3 epochs in all; shipped since 2026-12-01)
#   runs/chnsenticorp-12l-more3  that + 1 more epoch          (4 epochs in all)
#   runs/chnsenticorp-12l-more4  that + 1 more epoch          (5 epochs in all)
#   runs/chnsenticorp-12l-more2-d2  the 3-epoch teacher, self-distilled for 2 epochs instead of 1
# The first epoch continues from the 1-epoch model as it was shipped before 2026-12-01 (int8), which
# git keeps at 0edd37f; the directory now holds the 3-epoch model, so to rebuild from the start:
#   mkdir -p /tmp/old && git archive 0edd37f assets/models/chnsenticorp-12l | tar -x -C /tmp/old
#   INIT=/tmp/old/assets/models/chnsenticorp-12l bash scripts/chnsenticorp_12l_more.sh
# Then `python benchmarks/teacher_confidence.py --model DIR --data ../shared/data/chnsenticorp/dev.tsv`
# prints each model's dev accuracy and FLOPs speedup at speeds 0, 0.1, 0.3, 0.5 and 0.8 (--exits:
# the early exits' accuracy against the teacher's on the same rows).
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 OMP_NUM_THREADS=${THREADS:-1}
T=${THREADS:-1}
S=../shared/data/chnsenticorp
prev=${INIT:-}
if [ ! -f runs/chnsenticorp-12l-more-ft/model.safetensors ] && [ -z "$prev" ]; then
  echo "set INIT to the 1-epoch model (see the comment at the top of $0)" >&2; exit 2
fi
for k in "" $(seq 2 "${MORE:-4}"); do   # MORE=2: stop at runs/chnsenticorp-12l-more2
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
[ "${DISTILL2:-1}" = 0 ] || [ -f runs/chnsenticorp-12l-more2-d2/model.safetensors ] || python -m fastbert train --init runs/chnsenticorp-12l-more2-ft \
  --train $S/train.tsv --dev $S/dev.tsv --out runs/chnsenticorp-12l-more2-d2 --stages distill --distill-epochs 2 \
  --distill-lr 5e-4 --batch-size 32 --seed 0 --share-base --threads $T --save-every 50
