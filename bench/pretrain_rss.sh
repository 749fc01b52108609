#!/usr/bin/env bash
# Peak memory of `dapt pretrain` on the OPPO texts and on the same texts x10 (issue #6
# item 7: peak RSS with a 10x larger corpus grows by less than 5%).
#
#   bash bench/pretrain_rss.sh [STEPS]   (default 40)
#
# Both runs: small config, --max-len 32, batch 64, default 1% held-out set (evaluated at
# the end), one thread. /proc/PID/status is sampled every 50 ms for the peaks of RssAnon
# (heap: what dapt allocates) and RssFile (mapped shard pages and the binary), and VmHWM.
# The shards are dropped from the page cache first: a shard just written sits there as
# large folios, which one page fault maps whole; a corpus read cold (a nightly job's) is
# mapped 64 KB per fault. Set WARM=1 to keep the cache as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-40}
DATA=${OPPO_DIR:-../shared/data/oppo}
OUT=bench/out/pretrain_rss
TARGET=${CARGO_TARGET_DIR:-target}
cargo build --release --bin dapt
DAPT=$TARGET/release/dapt
mkdir -p "$OUT"
CORPUS=("$DATA"/gaiic_track3_round1_testA_20210228.tsv "$DATA"/gaiic_track3_round1_testB_20210317.tsv)
[ -f "$OUT/vocab/vocab.txt" ] || $DAPT vocab --input "${CORPUS[@]}" --min-count 2 --out "$OUT/vocab"
[ -f "$OUT/x1.shard" ] || $DAPT encode --vocab "$OUT/vocab" --input "${CORPUS[@]}" --pairs-as both \
  --out "$OUT/x1.shard"
[ -f "$OUT/x10.shard" ] || {
  for _ in $(seq 10); do cat "${CORPUS[@]}"; done > "$OUT/x10.tsv"
  $DAPT encode --vocab "$OUT/vocab" --input "$OUT/x10.tsv" --pairs-as both --out "$OUT/x10.shard"
  rm "$OUT/x10.tsv"
}

peak() { # name: run pretrain on $OUT/name.shard, print the peaks in KB
  rm -rf "$OUT/run-$1"
  [ -n "${WARM:-}" ] || python3 -c 'import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY); os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)' "$OUT/$1.shard"
  RAYON_NUM_THREADS=1 $DAPT pretrain --config configs/pretrain_small.toml --vocab "$OUT/vocab" \
    --corpus "$OUT/$1.shard" --max-len 32 --batch-size 64 --max-steps "$STEPS" --resume none \
    --seed 1 --out "$OUT/run-$1" > "$OUT/run-$1.log" 2>&1 &
  local pid=$! anon=0 file=0 hwm=0
  while kill -0 $pid 2> /dev/null; do
    read -r a f h < <(awk '/^RssAnon/{a=$2} /^RssFile/{f=$2} /^VmHWM/{h=$2} END{print a+0, f+0, h+0}' \
      /proc/$pid/status 2> /dev/null || echo 0 0 0)
    ((a > anon)) && anon=$a; ((f > file)) && file=$f; ((h > hwm)) && hwm=$h
    sleep 0.05
  done
  wait $pid
  echo "$anon $file $hwm"
}
read -r a1 f1 h1 < <(peak x1)
read -r a10 f10 h10 < <(peak x10)
grep -h "training /" "$OUT"/run-x1.log "$OUT"/run-x10.log
python3 - "$a1" "$f1" "$h1" "$a10" "$f10" "$h10" <<'PY'
import sys
a1, f1, h1, a10, f10, h10 = map(int, sys.argv[1:])
for name, x, y in [("RssAnon", a1, a10), ("RssFile", f1, f10), ("VmHWM (peak RSS)", h1, h10)]:
    print(f"{name:17} x1 {x:>9,} KB   x10 {y:>9,} KB   growth {100 * (y - x) / x:+.1f}%")
PY
