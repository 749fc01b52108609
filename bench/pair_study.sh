#!/usr/bin/env bash
# Real-results study (issue #7 item 7) on one labelled pair set:
#   bash bench/pair_study.sh lcqmc|mrpc
# lcqmc: desensitized LCQMC (scripts/desensitize_lcqmc.py), train dev.txt, test test.txt;
# mrpc: MRPC train/test. For the dataset: a vocabulary and shard from its text (train and
# test sentences, no labels), tiny-model n-gram MLM pretraining with Lookahead(AdamW), then
# 5-fold fine-tuning of
#   pre     the domain-pretrained model, --class-weight 1:1.3
#   pre-cw1 the same without class weights (1:1)
#   scratch the same model size without domain pretraining, --class-weight 1:1.3
# each evaluated on the test file per fold and as the fold ensemble (`dapt eval`), and
# the PyTorch/transformers reference (bench/finetune_ref.py) on the same folds, data,
# model and hyperparameters for seeds 1-3, with and without the pretrained init.
# Stages whose outputs exist are skipped, so a stopped study continues where it was.
# Each process uses one thread (THREADS, default 1): two studies can run side by side.
# EXTRA_SEEDS="2 3" adds dapt's own seed spread for the domain-pretrained run,
# REF_EXTRA_SEEDS="4 5" more reference seeds for it; the two can run as separate
# invocations side by side.
# bench/pair_study_report.py prints the tables.
set -euo pipefail
cd "$(dirname "$0")/.."
DS=${1:?usage: bench/pair_study.sh lcqmc|mrpc}
OUT=bench/out/study/$DS
THREADS=${THREADS:-1}
export RAYON_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS MKL_NUM_THREADS=$THREADS
mkdir -p "$OUT"
. bench/study_lib.sh
study_binary "$OUT"
SEEDS=${SEEDS:-1 2 3}
FT=(--folds 5 --fold-by components --epochs 2 --batch-size 32 --lr 5e-4 --optimizer adamw
    --metric auc)
case $DS in
  lcqmc)
    lcqmc_desensitized "$OUT/data"
    VOCAB=(--min-count 2 --rare-placeholders 4)
    MAX_LEN=64 PT_BATCH=64 ;;
  mrpc)
    mkdir -p "$OUT/data"
    cp ../shared/data/mrpc/msr_paraphrase_train.pairs.tsv "$OUT/data/train.tsv"
    cp ../shared/data/mrpc/msr_paraphrase_test.pairs.tsv "$OUT/data/test.tsv"
    VOCAB=(--tokenizer wordpiece --lowercase --max-size 8000)
    MAX_LEN=128 PT_BATCH=32 ;;
  *) echo "unknown dataset $DS (lcqmc|mrpc)" >&2; exit 2 ;;
esac
TRAIN=$OUT/data/train.tsv TEST=$OUT/data/test.tsv
PT_STEPS=${PT_STEPS:-1200}

[ -f "$OUT/vocab/vocab.txt" ] || $DAPT vocab --input "$TRAIN" "$TEST" "${VOCAB[@]}" --out "$OUT/vocab"
[ -f "$OUT/corpus.shard" ] || $DAPT encode --vocab "$OUT/vocab" --input "$TRAIN" "$TEST" \
  --pairs-as both --out "$OUT/corpus.shard"
[ -f "$OUT/pretrain/done" ] || {
  $DAPT pretrain --vocab "$OUT/vocab" --corpus "$OUT/corpus.shard" --model-config tiny \
    --max-len $MAX_LEN --mask ngram --optimizer lookahead --lr 1e-3 --batch-size $PT_BATCH \
    --max-steps "$PT_STEPS" --eval-every 200 --save-every 400 --keep-last 2 --seed 1 \
    --resume auto --out "$OUT/pretrain" > "$OUT/pretrain.log" 2>&1
  touch "$OUT/pretrain/done"
}

finetune() { # name, extra flags...
  local name=$1; shift
  [ -f "$OUT/ft-$name/cv.json" ] || $DAPT finetune --train "$TRAIN" --max-len $MAX_LEN \
    "${FT[@]}" --seed 1 "$@" --out "$OUT/ft-$name" > "$OUT/ft-$name.log" 2>&1
  [ -f "$OUT/ft-$name/test-eval.jsonl" ] || $DAPT eval --model "$OUT/ft-$name" --input "$TEST" \
    --json > "$OUT/ft-$name/test-eval.jsonl"
}
finetune pre --init "$OUT/pretrain" --class-weight 1:1.3
finetune scratch --vocab "$OUT/vocab" --model-config tiny --class-weight 1:1.3
finetune pre-cw1 --init "$OUT/pretrain" --class-weight 1:1
# dapt's own seed spread (EXTRA_SEEDS="2 3"): the domain-pretrained run with other seeds
# on the same folds.
for seed in ${EXTRA_SEEDS:-}; do
  [ -f "$OUT/ft-pre-seed$seed/cv.json" ] || $DAPT finetune --train "$TRAIN" --max-len $MAX_LEN \
    "${FT[@]}" --seed "$seed" --fold-seed 1 --init "$OUT/pretrain" --class-weight 1:1.3 \
    --out "$OUT/ft-pre-seed$seed" > "$OUT/ft-pre-seed$seed.log" 2>&1
done
cmp -s "$OUT/ft-pre/folds.json" "$OUT/ft-scratch/folds.json" || {
  echo "the runs did not use the same folds" >&2; exit 1; }

# transformers reads a checkpoint dir, not dapt's run dir with its `latest` pointer.
PRE=$OUT/pretrain/$(cat "$OUT/pretrain/latest")
REF=(--train "$TRAIN" --folds-json "$OUT/ft-pre/folds.json" --max-len $MAX_LEN --epochs 2
     --batch-size 32 --lr 5e-4 --class-weight 1:1.3 --metric auc)
[ -f "$OUT/ref-pre.json" ] || python3 bench/finetune_ref.py "${REF[@]}" --seeds $SEEDS \
  --init "$PRE" --out "$OUT/ref-pre.json" > "$OUT/ref-pre.log" 2>&1
[ -f "$OUT/ref-scratch.json" ] || python3 bench/finetune_ref.py "${REF[@]}" --seeds $SEEDS \
  --vocab "$OUT/vocab" --model-config tiny --out "$OUT/ref-scratch.json" > "$OUT/ref-scratch.log" 2>&1
# More reference seeds for the domain-pretrained run (REF_EXTRA_SEEDS="4 5"), one file each.
for seed in ${REF_EXTRA_SEEDS:-}; do
  [ -f "$OUT/ref-pre-seed$seed.json" ] || python3 bench/finetune_ref.py "${REF[@]}" --seeds "$seed" \
    --init "$PRE" --out "$OUT/ref-pre-seed$seed.json" > "$OUT/ref-pre-seed$seed.log" 2>&1
done
python3 bench/pair_study_report.py "$OUT"
