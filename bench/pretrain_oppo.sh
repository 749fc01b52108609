#!/usr/bin/env bash
# Real pretraining run (issue #6 item 6): vocab and shard from the OPPO texts in
# ../shared/data/oppo/, then the small config with Lookahead(AdamW) for the same step
# budget with ngram, token and wwm masking; prints the held-out curves side by side.
#
#   bash bench/pretrain_oppo.sh [STEPS] [MAX_SECONDS]   (default 400 steps, no time limit)
#
# The three runs go side by side, each with RAYON_NUM_THREADS=${THREADS_EACH:-1}, so a
# time limit cuts all three at about the same step.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-400}
MAX_TIME=${2:+--max-time $2}
DATA=${OPPO_DIR:-../shared/data/oppo}
OUT=bench/out/pretrain_oppo
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release --bin dapt
# A copy, so that rebuilding while the runs go on does not touch their binary.
DAPT=$OUT/dapt
mkdir -p "$OUT" && cp "$TARGET/release/dapt" "$DAPT"
CORPUS=("$DATA"/gaiic_track3_round1_testA_20210228.tsv "$DATA"/gaiic_track3_round1_testB_20210317.tsv)
$DAPT vocab --input "${CORPUS[@]}" --min-count 2 --out "$OUT/vocab"
$DAPT encode --vocab "$OUT/vocab" --input "${CORPUS[@]}" --pairs-as both --out "$OUT/oppo.shard"
for mask in ngram token wwm; do
  rm -rf "$OUT/run-$mask"
  RAYON_NUM_THREADS=${THREADS_EACH:-1} $DAPT pretrain --config configs/pretrain_small.toml \
    --vocab "$OUT/vocab" --corpus "$OUT/oppo.shard" --mask "$mask" --max-steps "$STEPS" \
    --eval-every 100 --lr 1e-3 --save-every 500 --resume none --seed 1 $MAX_TIME \
    --out "$OUT/run-$mask" > "$OUT/run-$mask.log" 2>&1 &
done
wait
tail -n 3 "$OUT"/run-*.log
python3 - "$OUT" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
curves = {}
for mask in ["ngram", "token", "wwm"]:
    recs = [json.loads(l) for l in (out / f"run-{mask}" / "metrics.jsonl").read_text().splitlines()]
    curves[mask] = {r["step"]: r for r in recs if r.get("event") == "eval"}
steps = sorted(set().union(*[c.keys() for c in curves.values()]))
print("held-out masked-token accuracy (most-frequent-token baseline) / loss, small config")
print(f"{'step':>6}" + "".join(f"{m:>26}" for m in curves))
for s in steps:
    row = f"{s:>6}"
    for m, c in curves.items():
        r = c.get(s)
        row += f"{r['masked_accuracy']:>10.4f} ({r['unigram_accuracy']:.4f}) {r['eval_loss']:6.3f}" if r else f"{'':>26}"
    print(row)
PY
