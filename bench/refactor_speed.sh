#!/usr/bin/env bash
# Training speed of two dapt binaries side by side (a refactor must not slow the loops):
# optimizer steps/s of `small` MLM pretraining (Lookahead, batch 64 x 32 tokens) and of
# one `small` fine-tuning fold (desensitized LCQMC sample, batch 32, max-len 64), each
# timed by the run's own train_seconds (steps only: no start-up, evaluation or saving),
# BEFORE and AFTER interleaved (which goes first alternates), REPS times. Prints every
# run and the mean ratio.
# Usage: bench/refactor_speed.sh BEFORE AFTER [REPS] [PRETRAIN_STEPS] [FINETUNE_EPOCHS]
# (repository root)
set -euo pipefail
before="$1"
after="$2"
reps="${3:-3}"
steps="${4:-150}"
epochs="${5:-3}"
cd "$(dirname "$0")/.."
out=bench/out/refactor_speed
rm -rf "$out" && mkdir -p "$out"
corpus=corpora/oppo_sample.tsv
train=corpora/lcqmc_desens_train.tsv
"$after" vocab --input "$corpus" --out "$out/vocab" 2> /dev/null
"$after" encode --vocab "$out/vocab" --input "$corpus" --pairs-as both --out "$out/c.shard" 2> /dev/null
"$after" vocab --input "$train" --min-count 2 --out "$out/ft-vocab" 2> /dev/null
echo "machine: $(nproc) cores; $(uptime | sed 's/.*load/load/')"

# Steps/s of a pretraining run from its metrics (after the first 3 logged steps).
pretrain_rate() {
  python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
losses = [r for r in recs if "loss" in r]
first = next(r for r in losses if r["step"] >= 3)
last = losses[-1]
print((last["step"] - first["step"]) / (last["train_seconds"] - first["train_seconds"]))' "$1"
}

# Steps/s of fine-tuning fold 0 from its last logged loss record.
finetune_rate() {
  python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
last = [r for r in recs if "loss" in r][-1]
print(last["step"] / last["train_seconds"])' "$1"
}

for rep in $(seq 1 "$reps"); do
  # Alternate which binary runs first, so neither gains from its place in the order.
  order=$([ $((rep % 2)) = 1 ] && echo "before after" || echo "after before")
  for side in $order; do
    bin=$([ "$side" = before ] && echo "$before" || echo "$after")
    run="$out/pre-$side-$rep"
    "$bin" pretrain --corpus "$out/c.shard" --vocab "$out/vocab" --model-config small \
      --batch-size 64 --max-len 32 --mask ngram --optimizer lookahead --lr 5e-4 \
      --max-steps "$steps" --eval-every 0 --save-every 0 --eval-fraction 0.01 --log-every 1 \
      --seed 1 --out "$run" 2> /dev/null
    p=$(pretrain_rate "$run/metrics.jsonl")
    run="$out/ft-$side-$rep"
    "$bin" finetune --train "$train" --vocab "$out/ft-vocab" --model-config small \
      --folds 5 --fold 0 --epochs "$epochs" --batch-size 32 --max-len 64 --lr 1e-4 \
      --class-weight 1:1.3 --seed 1 --out "$run" 2> /dev/null
    f=$(finetune_rate "$run/metrics.jsonl")
    echo "rep $rep $side pretrain_steps_per_s $p finetune_steps_per_s $f" | tee -a "$out/runs.txt"
  done
done
awk '
  { side = $3; pre[side] += $5; ft[side] += $7; n[side]++ }
  END {
    printf "pretrain small MLM: before %.3f, after %.3f steps/s (after/before %.3f)\n",
      pre["before"] / n["before"], pre["after"] / n["after"], (pre["after"] / n["after"]) / (pre["before"] / n["before"])
    printf "finetune small fold: before %.3f, after %.3f steps/s (after/before %.3f)\n",
      ft["before"] / n["before"], ft["after"] / n["after"], (ft["after"] / n["after"]) / (ft["before"] / n["before"])
  }' "$out/runs.txt"
