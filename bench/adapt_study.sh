#!/usr/bin/env bash
# Issue #15, point 1: domain adaptation of a real public checkpoint on MRPC.
#   (a) all-MiniLM-L6-v2 -> fine-tune
#   (b) all-MiniLM-L6-v2 -> continued MLM on the task's own text (train + test texts,
#       labels unused; PRETRAIN_STEPS batches of 32, token masking) -> the same fine-tuning
#   (c) the `small` preset over MiniLM's vocabulary, randomly initialised -> the same fine-tuning
#   (e) as (b) over MiniLM's vocabulary extended by `dapt vocab --extend --add EXTEND_ADD`
#       (words seen at least 3 times in train + test; added rows from their pieces)
# dapt does (a), (b), (c); PyTorch/transformers does (a) and (b) the way a transformers user
# would (bench/adapt_mlm_ref.py, bench/finetune_ref.py), on the same folds (dapt's
# folds.json) with the same hyperparameters. Fine-tuning: fold FOLD of 5 (default 0;
# FOLD=all trains every fold and scores the test set with the fold ensemble, into
# ft5fold/ and ref5fold/) (stratified, --fold-seed 1) for EPOCHS epochs, batch 32, lr 5e-5, warmup 6%, max-len 128, best by
# validation AUC; that best model scores the MRPC test set. Seeds: SEEDS.
# The dapt chain (core DAPT_CORE, default 0) and the reference chain (core REF_CORE,
# default 1) run side by side, one core each; CHAINS (default "dapt ref") picks which run.
# With FOLD=all every finished run (dapt: cv.json, test.json, seconds; reference: one JSON
# per arm and seed) is also copied into ARCHIVE (bench/results/adapt-5fold, committed) and
# restored from it at start, so the ~8 core-hours of the 5-fold study can be spread over
# several sessions or machines; the report reads the archive.
#   bash bench/adapt_study.sh            # then: python3 bench/adapt_study_report.py
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/study_lib.sh
OUT=bench/out/adapt
SEEDS=${SEEDS:-"1 2 3"}
EPOCHS=${EPOCHS:-2}
PRETRAIN_STEPS=${PRETRAIN_STEPS:-200}
EXTEND_ADD=${EXTEND_ADD:-1000}
ARMS=${ARMS:-a b c e}
FOLD=${FOLD:-0}
CHAINS=${CHAINS:-dapt ref}
if [ "$FOLD" = all ]; then FOLDFLAG=() TAG=5fold; else FOLDFLAG=(--fold "$FOLD") TAG=""; fi
ARCHIVE=${ARCHIVE:-bench/results/adapt-5fold}
[ -n "$TAG" ] || ARCHIVE=""
mkdir -p "$OUT/data" "$OUT/ft$TAG" "$OUT/ref$TAG" "$OUT/logs"
if [ -n "$ARCHIVE" ] && [ -d "$ARCHIVE" ]; then
  for d in "$ARCHIVE"/ft5fold/*-*; do
    [ -d "$d" ] || continue
    [ -f "$OUT/ft5fold/$(basename "$d")/test.json" ] || cp -r "$d" "$OUT/ft5fold/"
  done
  cp -n "$ARCHIVE"/ref5fold/*.json "$OUT/ref5fold/" 2>/dev/null || true
fi
study_binary "$OUT"
minilm_checkpoint "$OUT"
cp ../shared/data/mrpc/msr_paraphrase_train.pairs.tsv "$OUT/data/train.tsv"
cp ../shared/data/mrpc/msr_paraphrase_test.pairs.tsv "$OUT/data/test.tsv"
TRAIN=$OUT/data/train.tsv TEST=$OUT/data/test.tsv
FT=(--train "$TRAIN" --folds 5 --fold-seed 1 "${FOLDFLAG[@]}" --epochs "$EPOCHS" --batch-size 32
    --lr 5e-5 --warmup-ratio 0.06 --max-len 128 --metric auc)

dapt_chain() {
  export RAYON_NUM_THREADS=1
  if [ ! -f "$OUT/pretrain/done" ]; then
    rm -rf "$OUT/pretrain"
    "$DAPT" pretrain --init-from "$MINILM" --vocab "$MINILM" --corpus "$TRAIN" "$TEST" \
      --mask token --max-len 128 --batch-size 32 --optimizer adamw --lr 5e-5 --warmup-ratio 0.06 \
      --max-steps "$PRETRAIN_STEPS" --save-every "$PRETRAIN_STEPS" --eval-every 50 --seed 1 \
      --out "$OUT/pretrain" > "$OUT/logs/pretrain.log" 2>&1
    touch "$OUT/pretrain/done"
  fi
  if [[ " $ARMS " == *" e "* && ! -f "$OUT/pretrain-ext/done" ]]; then
    rm -rf "$OUT/vocab-ext" "$OUT/pretrain-ext"
    "$DAPT" vocab --extend "$MINILM" --add "$EXTEND_ADD" --min-count 3 --input "$TRAIN" "$TEST" \
      --out "$OUT/vocab-ext" > "$OUT/logs/vocab-ext.log" 2>&1
    "$DAPT" pretrain --init-from "$MINILM" --vocab "$OUT/vocab-ext" --corpus "$TRAIN" "$TEST" \
      --mask token --max-len 128 --batch-size 32 --optimizer adamw --lr 5e-5 --warmup-ratio 0.06 \
      --max-steps "$PRETRAIN_STEPS" --save-every "$PRETRAIN_STEPS" --eval-every 50 --seed 1 \
      --out "$OUT/pretrain-ext" > "$OUT/logs/pretrain-ext.log" 2>&1
    touch "$OUT/pretrain-ext/done"
  fi
  local adapted
  adapted=$OUT/pretrain/$(cat "$OUT/pretrain/latest")
  for seed in $SEEDS; do
    for arm in $ARMS; do
      local dir=$OUT/ft$TAG/$arm-$seed
      [ -f "$dir/test.json" ] && continue
      rm -rf "$dir"
      case $arm in
        a) init=(--init "$MINILM") ;;
        b) init=(--init "$adapted") ;;
        c) init=(--vocab "$MINILM" --model-config small) ;;
        e) init=(--init "$OUT/pretrain-ext/$(cat "$OUT/pretrain-ext/latest")") ;;
      esac
      local start=$SECONDS
      "$DAPT" finetune "${FT[@]}" "${init[@]}" --seed "$seed" --out "$dir" > "$OUT/logs/ft$TAG-$arm-$seed.log" 2>&1
      echo "$((SECONDS - start))" > "$dir/seconds"
      "$DAPT" eval --model "$dir" --input "$TEST" --json | grep "\"model\":\"ensemble\"" > "$dir/test.json"
      if [ -n "$ARCHIVE" ]; then
        mkdir -p "$ARCHIVE/ft5fold/$arm-$seed"
        cp "$dir/cv.json" "$dir/test.json" "$dir/seconds" "$dir/folds.json" "$ARCHIVE/ft5fold/$arm-$seed/"
      fi
    done
  done
}

ref_chain() {
  if [ ! -f "$OUT/ref/pretrain/done" ]; then
    python3 bench/adapt_mlm_ref.py --init "$MINILM" --corpus "$TRAIN" "$TEST" --steps "$PRETRAIN_STEPS" \
      --batch-size 32 --lr 5e-5 --max-len 128 --seed 1 --threads 1 --save "$OUT/ref/pretrain" \
      > "$OUT/logs/ref-pretrain.log" 2>&1
    touch "$OUT/ref/pretrain/done"
  fi
  # dapt's folds (the same for every seed: --fold-seed 1), written by its first run.
  local folds
  while true; do
    folds=$(ls "$OUT"/ft$TAG/a-*/folds.json 2>/dev/null | head -n 1)
    [ -n "$folds" ] && break
    sleep 10
  done
  for seed in $SEEDS; do
    for arm in a b; do
      local res=$OUT/ref$TAG/$arm-$seed.json
      [ -f "$res" ] && continue
      case $arm in a) init=$MINILM ;; b) init=$OUT/ref/pretrain ;; esac
      python3 bench/finetune_ref.py --train "$TRAIN" --folds-json "$folds" --init "$init" "${FOLDFLAG[@]}" \
        --epochs "$EPOCHS" --batch-size 32 --lr 5e-5 --max-len 128 --metric auc --seeds "$seed" \
        --test "$TEST" --threads 1 --out "$res" > "$OUT/logs/ref$TAG-$arm-$seed.log" 2>&1
      if [ -n "$ARCHIVE" ]; then mkdir -p "$ARCHIVE/ref5fold"; cp "$res" "$ARCHIVE/ref5fold/"; fi
    done
  done
}

pids=()
if [[ " $CHAINS " == *" dapt "* ]]; then
  taskset -c "${DAPT_CORE:-0}" bash -c "set -euo pipefail; $(declare -f dapt_chain); $(declare -p OUT SEEDS EPOCHS PRETRAIN_STEPS EXTEND_ADD ARMS DAPT MINILM TRAIN TEST FT TAG ARCHIVE); dapt_chain" &
  pids+=($!)
fi
if [[ " $CHAINS " == *" ref "* ]]; then
  taskset -c "${REF_CORE:-1}" bash -c "set -euo pipefail; $(declare -f ref_chain); $(declare -p OUT SEEDS EPOCHS PRETRAIN_STEPS MINILM TRAIN TEST FOLDFLAG TAG ARCHIVE); ref_chain" &
  pids+=($!)
fi
for pid in "${pids[@]}"; do wait "$pid"; done
echo "done: python3 bench/adapt_study_report.py bench/out/adapt $TAG"
