#!/usr/bin/env bash
# Issue #17, point 5: MLM vs replaced-token detection (ELECTRA) at an equal wall-clock
# pretraining budget, then the same fine-tuning.
#   bash bench/rtd_study.sh [bq|oppo]   then: python3 bench/rtd_study_report.py [bench/out/rtd-DS]
# bq (default): desensitized BQ, the first BQ_TRAIN (6,000) train pairs -> dev (10,000) as
# the test set. oppo: the OPPO round-1 test sets (50,000 unlabelled pairs, already
# desensitized), pretraining only (no labels to fine-tune on). Tiny model, max-len 64, n-gram masking, Lookahead(AdamW) lr 1e-3, batch 64, on the
# train+test texts (labels unused). Equal budget: each objective first times 100 steps
# on its core, then gets max_steps = PT_TIME (default 600 s) / its seconds per step, so
# both finish their linear schedule in about PT_TIME (and stop at 1.2x PT_TIME whatever
# happens). Per seed s in SEEDS (default 1 2 3) mlm runs on core 0 and rtd on core 1 at the
# same time (they share the machine's noise), pretraining with --seed s, then 5-fold
# fine-tuning with --seed s on the same folds (components, --fold-seed 1); each fold
# ensemble scores the test file (`dapt eval`). Stages whose outputs exist are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
DS=${1:-bq}
OUT=${OUT:-bench/out/rtd-$DS}
export RAYON_NUM_THREADS=1
export BQ_TRAIN=${BQ_TRAIN:-6000}
PT_TIME=${PT_TIME:-600}
mkdir -p "$OUT"
. bench/study_lib.sh
study_binary "$OUT"
case $DS in
  bq) bq_desensitized "$OUT/data"; TRAIN=$OUT/data/train.tsv TEST=$OUT/data/test.tsv ;;
  oppo) TRAIN=../shared/data/oppo/gaiic_track3_round1_testA_20210228.tsv
        TEST=../shared/data/oppo/gaiic_track3_round1_testB_20210317.tsv ;;
  *) echo "unknown dataset $DS (bq|oppo)" >&2; exit 2 ;;
esac
MAX_LEN=64
[ -f "$OUT/vocab/vocab.txt" ] || $DAPT vocab --input "$TRAIN" "$TEST" --min-count 2 \
  --rare-placeholders 4 --out "$OUT/vocab"
[ -f "$OUT/corpus.shard" ] || $DAPT encode --vocab "$OUT/vocab" --input "$TRAIN" "$TEST" \
  --pairs-as both --max-len "$MAX_LEN" --out "$OUT/corpus.shard"
PT=(--vocab "$OUT/vocab" --corpus "$OUT/corpus.shard" --model-config tiny --max-len "$MAX_LEN"
    --mask ngram --optimizer lookahead --lr 1e-3 --batch-size 64)
seconds_per_step() { # objective, core
  local dir=$OUT/calibrate-$1
  if [ ! -f "$dir/done" ]; then
    rm -rf "$dir"
    taskset -c "$2" $DAPT pretrain "${PT[@]}" --objective "$1" --max-steps 100 \
      --eval-every 100000 --save-every 100000 --seed 1 --out "$dir" > "$dir.log" 2>&1
    touch "$dir/done"
  fi
  python3 - "$dir/metrics.jsonl" <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if '"loss"' in l]
first, last = recs[0], recs[-1]  # after the first record (every ~2 s): warmed up
if first is last:  # a run too fast for two records
    first = {"train_seconds": 0.0, "step": 0}
print((last["train_seconds"] - first["train_seconds"]) / (last["step"] - first["step"]))
PY
}
pretrain() { # objective, seed, core, max steps
  local dir=$OUT/pretrain-$1-s$2
  [ -f "$dir/done" ] && return
  taskset -c "$3" $DAPT pretrain "${PT[@]}" --objective "$1" --seed "$2" --max-steps "$4" \
    --max-time "$((PT_TIME * 6 / 5))" --eval-every 200 --save-every 200 --keep-last 1 \
    --resume auto --out "$dir" > "$dir.log" 2>&1
  touch "$dir/done"
}
FT=(--train "$TRAIN" --max-len "$MAX_LEN" --folds 5 --fold-by components --fold-seed 1
    --epochs 2 --batch-size 32 --lr 5e-4 --optimizer adamw --metric auc --class-weight 1:1.3)
finetune() { # objective, seed, core
  local dir=$OUT/ft-$1-s$2
  if [ ! -f "$dir/cv.json" ]; then
    rm -rf "$dir"
    taskset -c "$3" $DAPT finetune "${FT[@]}" --init "$OUT/pretrain-$1-s$2" --seed "$2" \
      --out "$dir" > "$dir.log" 2>&1
  fi
  [ -s "$dir/test-eval.jsonl" ] || taskset -c "$3" $DAPT eval --model "$dir" --input "$TEST" \
    --json > "$dir/test-eval.jsonl"
}
MLM_SPS=$(seconds_per_step mlm 0)
RTD_SPS=$(seconds_per_step rtd 1)
MLM_STEPS=$(python3 -c "print(int($PT_TIME / $MLM_SPS))")
RTD_STEPS=$(python3 -c "print(int($PT_TIME / $RTD_SPS))")
echo "seconds per step: mlm $MLM_SPS rtd $RTD_SPS -> steps in ${PT_TIME}s: mlm $MLM_STEPS rtd $RTD_STEPS" \
  | tee "$OUT/budget.txt"
for seed in ${SEEDS:-1 2 3}; do
  pretrain mlm "$seed" 0 "$MLM_STEPS" & pretrain rtd "$seed" 1 "$RTD_STEPS" & wait
  [ "$DS" = oppo ] && continue
  finetune mlm "$seed" 0 & finetune rtd "$seed" 1 & wait
done
echo "done: python3 bench/rtd_study_report.py $OUT"
