#!/usr/bin/env bash
# Makes docs/report.png, the README's screenshot of `dapt report`: the quickstart's
# vocabulary and shard, three 400-step pretraining runs (token, whole-word and n-gram
# masking) overlaid, and the quickstart's 5-fold fine-tuning run, rendered by headless
# Chromium. Run `dapt pipeline --config configs/quickstart.toml` first.
set -euo pipefail
cd "$(dirname "$0")/.."
DAPT=${DAPT:-target/release/dapt}
Q=runs/quickstart
OUT=runs/report-screenshot
mkdir -p "$OUT"
for mask in token wwm ngram; do
  [ -f "$OUT/$mask/latest" ] || $DAPT pretrain --vocab $Q/vocab --corpus $Q/corpus.shard \
    --model-config tiny --max-len 64 --mask $mask --batch-size 32 --optimizer lookahead \
    --lr 1e-3 --max-steps 400 --eval-every 25 --log-every 10 --seed 1 --out "$OUT/$mask"
done
$DAPT report "$OUT/token" "$OUT/wwm" "$OUT/ngram" $Q/finetune --out "$OUT/report.html"
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$(mktemp -d)" --hide-scrollbars --window-size=1260,2260 \
  --screenshot="$PWD/docs/report.png" "file://$PWD/$OUT/report.html"
