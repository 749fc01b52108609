#!/usr/bin/env bash
# What each fine-tuning technique buys (issue #14 item 7), on one desensitized pair set:
#   bash bench/technique_study.sh lcqmc|bq
# lcqmc: desensitized LCQMC, train dev.txt (8,802 pairs), test test.txt (12,500);
# bq: desensitized BQ, train the first BQ_TRAIN (default 20,000) of train.tsv, test dev.tsv
#     (10,000 labelled pairs; BQ's test has no labels).
# For the dataset: vocabulary and shard from its train+test text (no labels), tiny-model
# n-gram MLM pretraining with Lookahead(AdamW) (PT_STEPS, default 1200); then, from that
# checkpoint, 5-fold fine-tuning on the same folds (--fold-seed 1) for every run in RUNS
# (default: the baseline and each technique alone; COMBO="flags" adds the combination)
# and every seed in SEEDS (default 1 2 3), each scored on the test file per fold and as
# the fold ensemble (`dapt eval`), with its wall time. Stages whose outputs exist are
# skipped, so a stopped study continues where it was (remove a stopped run's ft-*.lock
# dir first); invocations with other SEEDS can run side by side. One thread per process
# (THREADS).
# bench/technique_study_report.py prints the table.
set -euo pipefail
cd "$(dirname "$0")/.."
DS=${1:?usage: bench/technique_study.sh lcqmc|bq}
OUT=bench/out/techniques/$DS
THREADS=${THREADS:-1}
export RAYON_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS
mkdir -p "$OUT"
. bench/study_lib.sh
study_binary "$OUT"
case $DS in
  lcqmc)
    lcqmc_desensitized "$OUT/data" ;;
  bq)
    bq_desensitized "$OUT/data" ;;
  *) echo "unknown dataset $DS (lcqmc|bq)" >&2; exit 2 ;;
esac
TRAIN=$OUT/data/train.tsv TEST=$OUT/data/test.tsv
[ -f "$OUT/vocab/vocab.txt" ] || $DAPT vocab --input "$TRAIN" "$TEST" --min-count 2 \
  --rare-placeholders 4 --out "$OUT/vocab"
[ -f "$OUT/corpus.shard" ] || $DAPT encode --vocab "$OUT/vocab" --input "$TRAIN" "$TEST" \
  --pairs-as both --out "$OUT/corpus.shard"
[ -f "$OUT/pretrain/done" ] || {
  $DAPT pretrain --vocab "$OUT/vocab" --corpus "$OUT/corpus.shard" --model-config tiny \
    --max-len 64 --mask ngram --optimizer lookahead --lr 1e-3 --batch-size 64 \
    --max-steps "${PT_STEPS:-1200}" --eval-every 200 --save-every 400 --keep-last 2 --seed 1 \
    --resume auto --out "$OUT/pretrain" > "$OUT/pretrain.log" 2>&1
  touch "$OUT/pretrain/done"
}

# The recipe every run shares: pair_study's, evaluated every 100 steps as well (SWA
# averages evaluation points; every run gets the same points so best-checkpoint
# selection is alike).
FT=(--train "$TRAIN" --init "$OUT/pretrain" --max-len 64 --folds 5 --fold-by components
    --fold-seed 1 --epochs 2 --batch-size 32 --lr 5e-4 --optimizer adamw --metric auc
    --class-weight 1:1.3 --eval-every 100)
declare -A FLAGS=(
  [base]=""
  [fgm]="--adversarial fgm"
  [pgd]="--adversarial pgd"
  [ema]="--ema 0.99"
  [swa]="--swa 3"
  [rdrop]="--rdrop 1.0"
  [msd]="--multi-sample-dropout 5"
  [mean]="--pooling mean"
  [lld]="--layer-lr-decay 0.8"
  [combo]="${COMBO:-}"
)
RUNS=${RUNS:-base fgm pgd ema swa rdrop msd mean lld}
for seed in ${SEEDS:-1 2 3}; do
  for name in $RUNS; do
    dir=$OUT/ft-$name-s$seed
    # Another invocation (e.g. SEEDS=3 beside SEEDS="1 2") may hold this run.
    mkdir "$dir.lock" 2>/dev/null || continue
    if [ ! -f "$dir/cv.json" ]; then
      start=$(date +%s)
      # shellcheck disable=SC2086
      $DAPT finetune "${FT[@]}" ${FLAGS[$name]} --seed "$seed" --out "$dir" > "$dir.log" 2>&1
      echo $(( $(date +%s) - start )) > "$dir/wall_seconds"
    fi
    [ -f "$dir/test-eval.jsonl" ] || $DAPT eval --model "$dir" --input "$TEST" --json \
      > "$dir/test-eval.jsonl"
    rmdir "$dir.lock"
  done
done
python3 bench/technique_study_report.py "$OUT"
