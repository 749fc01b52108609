#!/usr/bin/env bash
# Forward+backward tokens/s of BertForMaskedLM on CPU, tiny and small presets (vocab 22k,
# batch 64 x seq 32, ~15% masked, training mode): dapt next to PyTorch + transformers, one
# after the other on the same machine, same thread count, and the ratio dapt/PyTorch.
# Usage: bench/model_compare.sh [STEPS] [THREADS]   (from the repository root)
# THREADS (default: all cores) sets both sides (RAYON_NUM_THREADS, MODEL_BENCH_THREADS).
set -euo pipefail
steps="${1:-10}"
threads="${2:-$(nproc)}"
export RAYON_NUM_THREADS="$threads" MODEL_BENCH_THREADS="$threads"
cd "$(dirname "$0")/.."
cargo build --release --example model_speed
bin="${CARGO_TARGET_DIR:-target}/release/examples/model_speed"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(uptime | sed 's/.*load/load/')"
dapt_out="$("$bin" "$steps" tiny small)"
echo "$dapt_out"
torch_out="$(python3 bench/model_speed.py "$steps" tiny small)"
echo "$torch_out"
# RESULT preset variant tokens_per_s mean_ms min_ms
for preset in tiny small; do
    t="$(awk -v p="$preset" '$1 == "RESULT" && $2 == p && $3 ~ /^torch/ {print $4}' <<<"$torch_out")"
    for variant in gathered full_decoder; do
        d="$(awk -v p="$preset" -v v="$variant" '$1 == "RESULT" && $2 == p && $3 == v {print $4}' <<<"$dapt_out")"
        awk -v p="$preset" -v v="$variant" -v d="$d" -v t="$t" 'BEGIN {
            printf "%-5s dapt %-12s %7.0f tokens/s, PyTorch %7.0f tokens/s: ratio dapt/PyTorch = %.2f\n", p, v, d, t, d / t
        }'
    done
done
