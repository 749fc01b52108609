#!/usr/bin/env bash
# Fine-tuning speed of the techniques (issue #14): one fold, one epoch of the
# technique study's LCQMC setting (run bench/technique_study.sh lcqmc first for its data
# and pretrained checkpoint), one thread, REPS (default 2) interleaved repetitions of
#   old    OLD_DAPT (an earlier dapt binary), plain: wall time, for before/after
#   base   this dapt, plain
#   fgm    --adversarial fgm
#   pgd    --adversarial pgd (K = 3)
#   rdrop  --rdrop 1.0
# Prints wall seconds of each run, the seconds spent in training steps (metrics.jsonl's
# train_seconds, evaluation excluded) and each technique's ratio to the plain step.
#   OLD_DAPT=/tmp/dapt-old bash bench/finetune_speed.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DATA=bench/out/techniques/lcqmc
OUT=bench/out/finetune_speed
export RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1
NEW=${DAPT:-target/release/dapt}
[ -f "$DATA/pretrain/done" ] || { echo "run bench/technique_study.sh lcqmc first" >&2; exit 2; }
mkdir -p "$OUT"
COMMON=(finetune --train "$DATA/data/train.tsv" --init "$DATA/pretrain" --max-len 64 --folds 5
        --fold-by components --fold-seed 1 --fold 0 --epochs 1 --batch-size 32 --lr 5e-4
        --class-weight 1:1.3 --seed 1)
one() { # name, binary, extra flags...
  local name=$1 bin=$2; shift 2
  rm -rf "$OUT/$name"
  local start end
  start=$(date +%s%N)
  "$bin" "${COMMON[@]}" "$@" --out "$OUT/$name" > "$OUT/$name.log" 2>&1
  end=$(date +%s%N)
  local train
  train=$(python3 -c "import json,sys; r=[json.loads(l) for l in open(sys.argv[1])]; print(max((x.get('train_seconds', 0) for x in r), default=0))" "$OUT/$name/metrics.jsonl")
  echo "$name wall $(( (end - start) / 1000000 )) ms train_seconds $train"
}
for rep in $(seq "${REPS:-2}"); do
  [ -n "${OLD_DAPT:-}" ] && one old "$OLD_DAPT"
  one base "$NEW"
  one fgm "$NEW" --adversarial fgm
  one pgd "$NEW" --adversarial pgd
  one rdrop "$NEW" --rdrop 1.0
done | tee "$OUT/runs.txt"
python3 - "$OUT/runs.txt" <<'PY'
import collections, statistics, sys
wall, train = collections.defaultdict(list), collections.defaultdict(list)
for line in open(sys.argv[1]):
    name, _, w, _, _, t = line.split()
    wall[name].append(float(w) / 1000)
    train[name].append(float(t))
base_w, base_t = statistics.fmean(wall["base"]), statistics.fmean(train["base"])
if wall.get("old"):
    old = statistics.fmean(wall["old"])
    print(f"plain fine-tuning, wall: before (OLD_DAPT) {old:.1f} s, now {base_w:.1f} s: "
          f"now/before {base_w / old:.3f}")
for name in ["fgm", "pgd", "rdrop"]:
    t = statistics.fmean(train[name])
    print(f"{name}: {t:.1f} s in training steps vs plain {base_t:.1f} s: {t / base_t:.2f}x")
PY
