#!/usr/bin/env bash
# One AdamW step on BERT-base shapes (~110M parameters, CPU): dapt's AdamW next to
# torch.optim.AdamW(foreach=True), one after the other on the same machine, and the ratio.
# Both use every core (rayon's default; torch.set_num_threads(os.cpu_count())).
# Usage: bench/optim_compare.sh [STEPS] [THREADS]   (from the repository root)
# THREADS, when given, sets both sides' thread count (RAYON_NUM_THREADS, OPTIM_BENCH_THREADS):
# on a busy machine torch's OpenMP threads can slow down more than rayon's when oversubscribed.
set -euo pipefail
steps="${1:-10}"
if [ -n "${2:-}" ]; then export RAYON_NUM_THREADS="$2" OPTIM_BENCH_THREADS="$2"; fi
cd "$(dirname "$0")/.."
cargo build --release --example optim_step
bin="${CARGO_TARGET_DIR:-target}/release/examples/optim_step"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); $(uptime | sed 's/.*load/load/')"
dapt_out="$("$bin" "$steps")"
echo "$dapt_out"
torch_out="$(python3 bench/optim_step.py "$steps")"
echo "$torch_out"
field() { awk -v n="$2" -v f="$3" '$2 == n {print (f == "min" ? $5 : $3)}' <<<"$1"; }
for stat in mean min; do
    d="$(field "$dapt_out" dapt_adamw "$stat")"
    t="$(field "$torch_out" torch_adamw_foreach "$stat")"
    awk -v d="$d" -v t="$t" -v s="$stat" 'BEGIN {
        printf "%s step time: dapt AdamW %.2f ms, torch AdamW(foreach=True) %.2f ms: ratio dapt/torch = %.3f (%s)\n",
            s, d, t, d / t, (d <= t ? "dapt no slower" : "dapt SLOWER")
    }'
done
