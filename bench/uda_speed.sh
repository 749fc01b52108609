#!/usr/bin/env bash
# Issue #18: the cost of a UDA step next to a supervised step of the same batch size.
#   bash bench/uda_speed.sh [lcqmc|bq]     (after bench/unlabelled_study.sh DS made the data)
# One fold (fold 0 of 5) of the few-label set (1,000 pairs), 2 epochs, batch 32, tiny
# model from the study's pretrained checkpoint, one thread, on core CORE (default 0):
# supervised, then --uda on the other training pairs (--uda-batch-size 32, tfidf), twice
# each alternating; prints training seconds per optimizer step (metrics.jsonl's
# train_seconds: evaluation and saving excluded) and the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
DS=${1:-lcqmc}
SRC=bench/out/unlabelled/$DS
OUT=bench/out/uda-speed/$DS
[ -f "$SRC/data/few.tsv" ] || { echo "run bench/unlabelled_study.sh $DS first" >&2; exit 2; }
mkdir -p "$OUT"
cargo build --release --bin dapt
cp target/release/dapt "$OUT/dapt"
export RAYON_NUM_THREADS=1
run() { # name, extra flags...
  local dir=$OUT/$1; shift
  rm -rf "$dir"
  taskset -c "${CORE:-0}" "$OUT/dapt" finetune --train "$SRC/data/few.tsv" --init "$SRC/pretrain" \
    --match-embedding --max-len 64 --folds 5 --fold 0 --fold-by components --fold-seed 1 \
    --epochs 2 --batch-size 32 --lr 5e-4 --class-weight 1:1.3 --seed 1 "$@" --out "$dir" 2> /dev/null
}
for rep in 1 2; do
  run "sup-$rep"
  run "uda-$rep" --uda "$SRC/data/few-rest.tsv" --uda-batch-size 32
done
python3 - "$OUT" <<'PY'
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
def per_step(d):
    last = [json.loads(l) for l in (d / "metrics.jsonl").read_text().splitlines()
            if "train_seconds" in l][-1]
    return last["train_seconds"] / last["step"]
for rep in (1, 2):
    s, u = per_step(out / f"sup-{rep}"), per_step(out / f"uda-{rep}")
    print(f"repetition {rep}: supervised {1000 * s:.1f} ms/step, UDA {1000 * u:.1f} ms/step, ratio {u / s:.2f}x")
PY
