#!/usr/bin/env bash
# `dapt pretrain` throughput next to the PyTorch + transformers reference
# (bench/pretrain_ref.py), same corpus, vocabulary, config, batch, sequence length,
# masking rate, AdamW + linear schedule and thread count, one after the other in the
# same run; prints real (non-padding) tokens/s and the ratio for the tiny and small
# configs.  Usage: bench/pretrain_compare.sh [STEPS] [THREADS] [mlm|rtd]  (repository root)
# rtd: replaced-token detection (generator 1/4 of the discriminator) on both sides.
set -euo pipefail
steps="${1:-30}"
threads="${2:-$(nproc)}"
objective="${3:-mlm}"
cd "$(dirname "$0")/.."
cargo build --release --bin dapt
dapt="${CARGO_TARGET_DIR:-target}/release/dapt"
out=bench/out/pretrain_compare
rm -rf "$out" && mkdir -p "$out"
corpus=corpora/oppo_sample.tsv
"$dapt" vocab --input "$corpus" --out "$out/vocab" 2>/dev/null
"$dapt" encode --vocab "$out/vocab" --input "$corpus" --pairs-as both --out "$out/c.shard" 2>/dev/null
echo "machine: $(nproc) cores, $threads threads each; $(uptime | sed 's/.*load/load/')"
for preset in tiny small; do
  # Both sides time the steps after 3 warmup steps: dapt from its metrics record of step
  # 3 (one record per step) to the end, the reference after its warmup.
  RAYON_NUM_THREADS=$threads "$dapt" pretrain --corpus "$out/c.shard" --vocab "$out/vocab" \
    --model-config "$preset" --objective "$objective" --batch-size 64 --max-len 32 --mask token --optimizer adamw \
    --lr 5e-4 --max-steps $((steps + 3)) --eval-every 100000 --save-every 100000 \
    --eval-fraction 0.01 --log-every 1 --out "$out/run-$preset" 2>/dev/null
  d=$(python3 -c '
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1])]
first = next(r for r in recs if "loss" in r and r["step"] >= 3)
end = recs[-1]
print((end["tokens_seen"] - first["tokens_seen"]) / (end["train_seconds"] - first["train_seconds"]))' "$out/run-$preset/metrics.jsonl")
  t=$(python3 bench/pretrain_ref.py --corpus "$corpus" --vocab "$out/vocab" --preset "$preset" \
      --batch-size 64 --max-len 32 --steps "$steps" --warmup 3 --threads "$threads" \
      --objective "$objective" | awk '{print $5}')
  awk -v p="$preset" -v o="$objective" -v d="$d" -v t="$t" 'BEGIN {
    printf "%-5s %s dapt %8.1f tokens/s   torch %8.1f tokens/s   ratio dapt/torch %.2f\n", p, o, d, t, d / t }'
done
