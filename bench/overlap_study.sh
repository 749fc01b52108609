#!/usr/bin/env bash
# Issue #16, point 5: what the overlap-aware parts buy over the word-overlap baselines.
#   bash bench/overlap_study.sh lcqmc|bq|mrpc      then: python3 bench/overlap_study_report.py DS
# lcqmc: desensitized LCQMC, train dev.txt (8,802 pairs) -> test test.txt (12,500): the
#        shifted case; bq: desensitized BQ, the first BQ_TRAIN (20,000) of train -> dev
#        (10,000); mrpc: MRPC train (4,076) -> test (1,725), WordPiece vocabulary.
# Tiny model, n-gram MLM pretraining with Lookahead(AdamW) on train+test text (labels
# unused; PT_STEPS, default 1200), then 5-fold fine-tuning by components (--fold-seed 1,
# the technique study's recipe) for each seed in SEEDS (default 1 2 3):
#   base    the plain chain
#   match   + --match-embedding at fine-tuning
#   boost   pretraining with --mask-shared-boost BOOST (default 3), plain fine-tuning
#   stack   dapt stack over the base run of the seed (its logits + lexical features)
#   all     pretraining with the boost and --match-embedding, fine-tuning with it, stacked
# Each run's fold ensemble scores the test file (`dapt eval`, which prints the word-overlap
# baselines too). Stages whose outputs exist are skipped. One thread per process.
set -euo pipefail
cd "$(dirname "$0")/.."
DS=${1:?usage: bench/overlap_study.sh lcqmc|bq|mrpc}
OUT=bench/out/overlap/$DS
export RAYON_NUM_THREADS=${THREADS:-1}
mkdir -p "$OUT"
. bench/study_lib.sh
study_binary "$OUT"
case $DS in
  lcqmc)
    lcqmc_desensitized "$OUT/data"
    VOCAB=(--min-count 2 --rare-placeholders 4) MAX_LEN=64 ;;
  bq)
    bq_desensitized "$OUT/data"
    VOCAB=(--min-count 2 --rare-placeholders 4) MAX_LEN=64 ;;
  mrpc)
    mkdir -p "$OUT/data"
    cp ../shared/data/mrpc/msr_paraphrase_train.pairs.tsv "$OUT/data/train.tsv"
    cp ../shared/data/mrpc/msr_paraphrase_test.pairs.tsv "$OUT/data/test.tsv"
    VOCAB=(--tokenizer wordpiece --lowercase --max-size 8000) MAX_LEN=128 ;;
  *) echo "unknown dataset $DS (lcqmc|bq|mrpc)" >&2; exit 2 ;;
esac
TRAIN=$OUT/data/train.tsv TEST=$OUT/data/test.tsv
[ -f "$OUT/vocab/vocab.txt" ] || $DAPT vocab --input "$TRAIN" "$TEST" "${VOCAB[@]}" --out "$OUT/vocab"
[ -f "$OUT/corpus.shard" ] || $DAPT encode --vocab "$OUT/vocab" --input "$TRAIN" "$TEST" \
  --pairs-as both --max-len "$MAX_LEN" --out "$OUT/corpus.shard"
pretrain() { # name, extra flags...
  local dir=$OUT/pretrain-$1; shift
  [ -f "$dir/done" ] && return
  $DAPT pretrain --vocab "$OUT/vocab" --corpus "$OUT/corpus.shard" --model-config tiny \
    --max-len "$MAX_LEN" --mask ngram --optimizer lookahead --lr 1e-3 --batch-size 64 \
    --max-steps "${PT_STEPS:-1200}" --eval-every 200 --save-every 400 --keep-last 1 --seed 1 \
    --resume auto "$@" --out "$dir" > "$dir.log" 2>&1
  touch "$dir/done"
}
pretrain plain
pretrain boost --mask-shared-boost "${BOOST:-3}"
pretrain all --mask-shared-boost "${BOOST:-3}" --match-embedding
FT=(--train "$TRAIN" --max-len "$MAX_LEN" --folds 5 --fold-by components --fold-seed 1
    --epochs 2 --batch-size 32 --lr 5e-4 --optimizer adamw --metric auc --class-weight 1:1.3)
finetune() { # run dir, init, extra flags...
  local dir=$1 init=$2; shift 2
  if [ ! -f "$dir/cv.json" ]; then
    rm -rf "$dir"
    $DAPT finetune "${FT[@]}" --init "$init" "$@" --out "$dir" > "$dir.log" 2>&1
  fi
  [ -s "$dir/test-eval.jsonl" ] || $DAPT eval --model "$dir" --input "$TEST" --json \
    > "$dir/test-eval.jsonl"
}
stack() { # out dir, runs...
  local dir=$1; shift
  [ -f "$dir/stack.json" ] || $DAPT stack --runs "$@" --train "$TRAIN" --test "$TEST" \
    --out "$dir" > "$dir.log" 2>&1
}
for seed in ${SEEDS:-1 2 3}; do
  finetune "$OUT/ft-base-s$seed" "$OUT/pretrain-plain" --seed "$seed"
  finetune "$OUT/ft-match-s$seed" "$OUT/pretrain-plain" --match-embedding --seed "$seed"
  finetune "$OUT/ft-boost-s$seed" "$OUT/pretrain-boost" --seed "$seed"
  stack "$OUT/stack-s$seed" "$OUT/ft-base-s$seed"
  finetune "$OUT/ft-all-s$seed" "$OUT/pretrain-all" --seed "$seed"
  stack "$OUT/stack-all-s$seed" "$OUT/ft-all-s$seed"
done
echo "done: python3 bench/overlap_study_report.py $DS"
