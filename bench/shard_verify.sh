#!/usr/bin/env bash
# Issue #20, point 3: what block checksums cost. Encodes desensitized BQ train (100,000
# pairs, `--pairs-as both`: 300,000 documents), times `dapt inspect --verify` (every block's
# CRC-32C, page cache warm) against a tiny-preset pretraining step on the same shard
# (batch 64, max-len 64, one thread), and prints the ratios. Training checks each block
# once per run, the first time a batch reads one of its documents, so the whole shard's
# verification is spread over the run's first batches.
#   bash bench/shard_verify.sh
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=bench/out/shard_verify
mkdir -p "$OUT"
. bench/study_lib.sh
study_binary "$OUT"
BQ_TRAIN=100000 bq_desensitized "$OUT/data"
[ -f "$OUT/vocab/vocab.txt" ] || $DAPT vocab --input "$OUT/data/train.tsv" --min-count 2 --out "$OUT/vocab" 2> /dev/null
[ -f "$OUT/train.shard" ] || $DAPT encode --vocab "$OUT/vocab" --input "$OUT/data/train.tsv" \
  --pairs-as both --out "$OUT/train.shard" 2> /dev/null
export RAYON_NUM_THREADS=1
rm -rf "$OUT/run"
$DAPT pretrain --corpus "$OUT/train.shard" --vocab "$OUT/vocab" --model-config tiny --max-len 64 \
  --batch-size 64 --max-steps 40 --eval-every 0 --log-every 10 --out "$OUT/run" 2> /dev/null
python3 - "$DAPT" "$OUT" <<'PY'
import json, os, subprocess, sys, time
dapt, out = sys.argv[1], sys.argv[2]
shard = f"{out}/train.shard"
size = os.path.getsize(shard)
subprocess.run([dapt, "inspect", "--verify", shard], check=True, capture_output=True)  # warm
runs = []
for _ in range(5):
    t = time.perf_counter()
    r = subprocess.run([dapt, "inspect", "--verify", shard], check=True, capture_output=True, text=True)
    runs.append(time.perf_counter() - t)
t = time.perf_counter()
subprocess.run([dapt, "inspect", shard], check=True, capture_output=True)
base = time.perf_counter() - t
verify = max(min(runs) - base, 1e-6)
line = next(l for l in r.stdout.splitlines() if l.startswith("verify:"))
recs = [json.loads(l) for l in open(f"{out}/run/metrics.jsonl") if '"loss"' in l]
# Steps after the first 10 (warm), seconds per step.
(a, b) = (recs[0], recs[-1])
step = (b["train_seconds"] - a["train_seconds"]) / (b["step"] - a["step"])
docs = int(subprocess.run([dapt, "inspect", shard], capture_output=True, text=True).stdout.split("documents:")[1].split()[0])
epoch_steps = docs / 64
print(line)
print(f"shard {size/1e6:.1f} MB, {docs} documents; verifying every block {verify*1e3:.1f} ms "
      f"({size/verify/1e9:.2f} GB/s; inspect without --verify {base*1e3:.1f} ms)")
print(f"pretraining step (tiny, batch 64, 1 thread): {step*1e3:.1f} ms; an epoch {epoch_steps:.0f} steps")
print(f"verifying the whole shard = {100*verify/step:.2f}% of ONE step, "
      f"{100*verify/(step*epoch_steps):.4f}% of an epoch")
PY
