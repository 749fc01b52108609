#!/usr/bin/env bash
# Issue #15, point 2: a real checkpoint's transformer layers on a desensitized corpus.
# Desensitized LCQMC (bench/study_lib.sh: 8,802 train pairs from dev.txt, 12,500 test pairs,
# every character an integer id), a word-level vocabulary, then MLM pretraining at an
# equal budget (PT_STEPS batches of 64, max-len 64, n-gram masking, Lookahead(AdamW)) from
#   special | shared | frequency | none   all-MiniLM-L6-v2 with --align-embeddings RULE
#   scratch                               the same size (MiniLM's config.json), random
# Held-out MLM curves from each run's metrics.jsonl; then 5-fold fine-tuning (components,
# --fold-seed 1, the technique study's recipe) with SEEDS and the test AUC of the fold
# ensemble. MiniLM has no counts.tsv, so `frequency` ranks its ordinary tokens in
# vocabulary order (BERT's: single characters first, then words roughly by frequency).
#   bash bench/align_study.sh      (hours on 2 cores: RUNS, SEEDS, PT_STEPS select parts;
#                                   SEEDS="" pretrains only; FT_FOLD=0 fine-tunes one fold)
#   python3 bench/align_study_report.py
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/study_lib.sh
OUT=bench/out/align
mkdir -p "$OUT"
study_binary "$OUT"
minilm_checkpoint "$OUT"
lcqmc_desensitized "$OUT/data"
TRAIN=$OUT/data/train.tsv TEST=$OUT/data/test.tsv
[ -f "$OUT/vocab/vocab.txt" ] || $DAPT vocab --input "$TRAIN" "$TEST" --min-count 2 \
  --rare-placeholders 4 --out "$OUT/vocab"
[ -f "$OUT/corpus.shard" ] || $DAPT encode --vocab "$OUT/vocab" --input "$TRAIN" "$TEST" \
  --pairs-as both --max-len 64 --out "$OUT/corpus.shard"
PT_STEPS=${PT_STEPS:-1000}
RUNS=${RUNS:-special shared frequency none scratch}
for run in $RUNS; do
  pre=$OUT/pretrain-$run
  [ -f "$pre/done" ] && continue
  case $run in
    scratch) init=(--model-config "$MINILM/config.json") ;;
    *) init=(--init-from "$MINILM" --align-embeddings "$run") ;;
  esac
  $DAPT pretrain --vocab "$OUT/vocab" --corpus "$OUT/corpus.shard" "${init[@]}" \
    --max-len 64 --mask ngram --optimizer lookahead --lr 1e-4 --warmup-ratio 0.06 \
    --batch-size 64 --max-steps "$PT_STEPS" --eval-every $((PT_STEPS / 10)) \
    --save-every $((PT_STEPS / 2)) --keep-last 1 --seed 1 --resume auto --out "$pre" \
    > "$pre.log" 2>&1
  touch "$pre/done"
done
# Seeds outermost, so that a partial run has every arm at the first seed.
fold=()
[ -n "${FT_FOLD:-}" ] && fold=(--fold "$FT_FOLD")
for seed in ${SEEDS-1 2 3}; do
  for run in $RUNS; do
    dir=$OUT/ft-$run-s$seed
    [ -f "$dir/test-eval.jsonl" ] && continue
    rm -rf "$dir"
    $DAPT finetune --train "$TRAIN" --init "$OUT/pretrain-$run" --max-len 64 --folds 5 \
      --fold-by components --fold-seed 1 "${fold[@]}" --epochs 2 --batch-size 32 --lr 5e-5 \
      --optimizer adamw --metric auc --class-weight 1:1.3 --seed "$seed" --out "$dir" \
      > "$dir.log" 2>&1
    $DAPT eval --model "$dir" --input "$TEST" --json > "$dir/test-eval.jsonl"
  done
done
