#!/usr/bin/env bash
# Issue #18, point 5: what unlabelled pairs buy.
#   bash bench/unlabelled_study.sh lcqmc|bq       then: python3 bench/unlabelled_study_report.py DS
# lcqmc: desensitized LCQMC, labelled pairs from dev.txt (8,802), test test.txt (12,500);
# bq: desensitized BQ, the first BQ_TRAIN (default 20,000) of train, test dev (10,000).
# Tiny model, n-gram MLM pretraining on train + test texts (PT_STEPS, default 1200) with
# the overlap-aware boost and the exact-match embedding, then 5-fold fine-tuning by
# components with the embedding (the best recipe of bench/results/overlap_study.md) for each seed in SEEDS (default 1 2 3):
#  (a) few labels: FEW (default 1000) labelled pairs (a fixed random draw), the other
#      training pairs unlabelled:
#        few-sup     supervised
#        few-uda     + --uda on the unlabelled pairs (--tsa exp, tfidf replacement)
#        few-pseudo  + --pseudo on them, labelled by few-sup's ensemble (p >= PSEUDO_P, 0.9)
#  (b) all labels, the test pairs unlabelled (transductive):
#        all-sup     supervised (the teacher below)
#        all-pseudo  + --pseudo on the test pairs, labelled by all-sup's ensemble
#        all-distill dapt distill of all-sup's 5-fold ensemble into one student (fold 0's
#                    training part + the test pairs with soft labels)
# Every run's ensemble scores the test file (`dapt eval`); predict speed of the teacher
# ensemble and of the student are timed on the test file. One thread per process.
set -euo pipefail
cd "$(dirname "$0")/.."
DS=${1:?usage: bench/unlabelled_study.sh lcqmc|bq}
OUT=bench/out/unlabelled/$DS
export RAYON_NUM_THREADS=${THREADS:-1}
mkdir -p "$OUT"
. bench/study_lib.sh
study_binary "$OUT"
case $DS in
  lcqmc) lcqmc_desensitized "$OUT/data" ;;
  bq) bq_desensitized "$OUT/data" ;;
  *) echo "unknown dataset $DS (lcqmc|bq)" >&2; exit 2 ;;
esac
MAX_LEN=64
TRAIN=$OUT/data/train.tsv TEST=$OUT/data/test.tsv
FEW_TRAIN=$OUT/data/few.tsv FEW_REST=$OUT/data/few-rest.tsv TEST_PAIRS=$OUT/data/test-pairs.tsv
if [ ! -f "$FEW_REST" ]; then
  python3 - "$TRAIN" "$FEW_TRAIN" "$FEW_REST" "${FEW:-1000}" <<'PY'
import random, sys
src, few, rest, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
lines = [l for l in open(src, encoding="utf-8") if l.strip()]
pick = set(random.Random(2021).sample(range(len(lines)), n))
open(few, "w", encoding="utf-8").writelines(l for i, l in enumerate(lines) if i in pick)
# The rest without labels.
open(rest, "w", encoding="utf-8").writelines(
    "\t".join(l.rstrip("\n").split("\t")[:2]) + "\n" for i, l in enumerate(lines) if i not in pick)
PY
  cut -f1,2 "$TEST" > "$TEST_PAIRS"
fi
[ -f "$OUT/vocab/vocab.txt" ] || $DAPT vocab --input "$TRAIN" "$TEST" --min-count 2 \
  --rare-placeholders 4 --out "$OUT/vocab"
[ -f "$OUT/corpus.shard" ] || $DAPT encode --vocab "$OUT/vocab" --input "$TRAIN" "$TEST" \
  --pairs-as both --max-len "$MAX_LEN" --out "$OUT/corpus.shard"
PT=$OUT/pretrain
if [ ! -f "$PT/done" ]; then
  $DAPT pretrain --vocab "$OUT/vocab" --corpus "$OUT/corpus.shard" --model-config tiny \
    --max-len "$MAX_LEN" --mask ngram --optimizer lookahead --lr 1e-3 --batch-size 64 \
    --max-steps "${PT_STEPS:-1200}" --eval-every 400 --save-every 400 --keep-last 1 --seed 1 \
    --mask-shared-boost 3 --match-embedding --resume auto --out "$PT" > "$PT.log" 2>&1
  touch "$PT/done"
fi
FT=(--max-len "$MAX_LEN" --folds 5 --fold-by components --fold-seed 1 --epochs 3
    --batch-size 32 --lr 5e-4 --optimizer adamw --metric auc --class-weight 1:1.3
    --init "$PT" --match-embedding)
evaluate() { # run dir
  [ -s "$1/test-eval.jsonl" ] || $DAPT eval --model "$1" --input "$TEST" --json > "$1/test-eval.jsonl"
}
finetune() { # run dir, train file, extra flags...
  local dir=$1 train=$2; shift 2
  if [ ! -f "$dir/cv.json" ]; then
    rm -rf "$dir"
    local start=$SECONDS
    $DAPT finetune "${FT[@]}" --train "$train" "$@" --out "$dir" > "$dir.log" 2>&1
    echo "$((SECONDS - start))" > "$dir/seconds"
  fi
  evaluate "$dir"
}
timed_predict() { # model dir, output file (seconds of `dapt predict` on the test pairs)
  [ -s "$2" ] && return
  python3 - "$DAPT" "$1" "$TEST_PAIRS" "$OUT/predict.tmp" > "$2" <<'PY'
import subprocess, sys, time
start = time.time()
subprocess.run([sys.argv[1], "predict", "--model", sys.argv[2], "--input", sys.argv[3],
                "--out", sys.argv[4]], check=True, stderr=subprocess.DEVNULL)
print(f"{time.time() - start:.2f}")
PY
}
for seed in ${SEEDS:-1 2 3}; do
  finetune "$OUT/few-sup-s$seed" "$FEW_TRAIN" --seed "$seed"
  finetune "$OUT/few-uda-s$seed" "$FEW_TRAIN" --seed "$seed" --uda "$FEW_REST" --tsa exp
  finetune "$OUT/few-pseudo-s$seed" "$FEW_TRAIN" --seed "$seed" --pseudo "$FEW_REST" \
    --pseudo-teacher "$OUT/few-sup-s$seed" --pseudo-threshold "${PSEUDO_P:-0.9}"
  finetune "$OUT/all-sup-s$seed" "$TRAIN" --seed "$seed"
  finetune "$OUT/all-pseudo-s$seed" "$TRAIN" --seed "$seed" --pseudo "$TEST_PAIRS" \
    --pseudo-teacher "$OUT/all-sup-s$seed" --pseudo-threshold "${PSEUDO_P:-0.9}"
  dir=$OUT/all-distill-s$seed
  if [ ! -f "$dir/fold-0/result.json" ]; then
    start=$SECONDS
    $DAPT distill --teacher "$OUT/all-sup-s$seed" --train "$TRAIN" --unlabelled "$TEST_PAIRS" \
      "${FT[@]}" --seed "$seed" --out "$dir" > "$dir.log" 2>&1
    echo "$((SECONDS - start))" > "$dir/seconds"
  fi
  evaluate "$dir"
  timed_predict "$OUT/all-sup-s$seed" "$OUT/all-sup-s$seed/predict-seconds"
  timed_predict "$dir" "$dir/predict-seconds"
done
echo "done: python3 bench/unlabelled_study_report.py $DS"
