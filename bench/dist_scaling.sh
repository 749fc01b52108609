#!/usr/bin/env bash
# Issue #22, point 4: data-parallel pretraining throughput, 1 process against 2, on this
# machine, in the same run. Three runs of `dapt pretrain` (MLM, PRESET config, max-len 64,
# STEPS steps after 3 warmup steps), every one at the same global batch of 2 x BATCH:
#   1p-1t: one process, one thread, --batch-size 2 x BATCH   (one core's rate)
#   1p-2t: one process, two threads, --batch-size 2 x BATCH  (the 2 cores, threads)
#   2p-1t: mpirun -np 2, one thread each, --batch-size BATCH  (the 2 cores, processes)
# Prints real (non-padding) tokens/s, the speed-up over 1p-1t, and for 2p-1t the share of
# step time spent in the gradient all-reduce (`allreduce_seconds` of metrics.jsonl) and
# the bytes each process sends per step (ring all-reduce: 2 (N-1)/N x 4 bytes x params).
# Needs a dapt built with --features mpi and Open MPI's mpirun.
#   bash bench/dist_scaling.sh [STEPS] [PRESET] [BATCH]   (repository root)
set -euo pipefail
steps=${1:-20}
preset=${2:-small}
batch=${3:-16}
cd "$(dirname "$0")/.."
cargo build --release --features mpi --bin dapt
dapt="${CARGO_TARGET_DIR:-target}/release/dapt"
out=bench/out/dist_scaling
rm -rf "$out" && mkdir -p "$out"
corpus=corpora/oppo_sample.tsv
"$dapt" vocab --input "$corpus" --out "$out/vocab" 2>/dev/null
"$dapt" encode --vocab "$out/vocab" --input "$corpus" --pairs-as both --out "$out/c.shard" 2>/dev/null
echo "machine: $(nproc) cores; $(uptime | sed 's/.*load/load/'); preset $preset, global batch $((2 * batch)) x max-len 64, $steps steps"
flags=(pretrain --corpus "$out/c.shard" --vocab "$out/vocab" --model-config "$preset"
  --max-len 64 --mask token --optimizer adamw --lr 5e-4 --max-steps $((steps + 3))
  --log-every 1 --eval-every 0 --save-every 0 --eval-fraction 0.01 --seed 1)
RAYON_NUM_THREADS=1 "$dapt" "${flags[@]}" --batch-size $((2 * batch)) --dist none \
  --out "$out/1p-1t" 2>/dev/null
RAYON_NUM_THREADS=2 "$dapt" "${flags[@]}" --batch-size $((2 * batch)) --dist none \
  --out "$out/1p-2t" 2>/dev/null
mpirun -np 2 --oversubscribe --allow-run-as-root --bind-to core -x RAYON_NUM_THREADS=1 \
  "$dapt" "${flags[@]}" --batch-size "$batch" --dist mpi --out "$out/2p-1t" 2>/dev/null
python3 - "$out" <<'EOF'
import json, os, sys
out = sys.argv[1]
def rate(run):
    recs = [json.loads(l) for l in open(os.path.join(out, run, "metrics.jsonl"))]
    steps = [r for r in recs if "loss" in r and r["step"] > 3]
    first = next(r for r in recs if "loss" in r and r["step"] == 3)
    secs = steps[-1]["train_seconds"] - first["train_seconds"]
    tokens = steps[-1]["tokens_seen"] - first["tokens_seen"]
    reduce = sum(r.get("allreduce_seconds", 0.0) for r in steps)
    return tokens / secs, secs / len(steps), reduce / len(steps)
ckpt = os.path.join(out, "1p-1t", open(os.path.join(out, "1p-1t", "latest")).read().strip())
params = os.path.getsize(os.path.join(ckpt, "model.safetensors")) / 4
base, _, _ = rate("1p-1t")
for run in ["1p-1t", "1p-2t", "2p-1t"]:
    tok_s, step_s, reduce_s = rate(run)
    line = f"{run}: {tok_s:8.0f} tokens/s  {step_s:6.3f} s/step  speed-up over 1p-1t {tok_s / base:.2f}"
    if run == "2p-1t":
        sent = 2 * (2 - 1) / 2 * 4 * params
        line += (f"  all-reduce {reduce_s:.3f} s/step ({100 * reduce_s / step_s:.1f}% of the step),"
                 f" {params / 1e6:.1f}M params: {sent / 1e6:.1f} MB sent per process per step,"
                 f" {sent / reduce_s / 1e9:.2f} GB/s")
    print(line)
EOF
