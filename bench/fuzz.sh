#!/usr/bin/env bash
# Issue #20, point 1: fuzz every parser of files dapt reads, with libFuzzer through
# cargo-fuzz (`cargo install cargo-fuzz`; stable Rust with RUSTC_BOOTSTRAP=1 for its
# sanitizer flags). Seeds come from the shipped samples and fixtures. Each target runs
# FUZZ_SECONDS (default 600) on one core; JOBS targets at a time (default 1).
#   bash bench/fuzz.sh [TARGET...]      then read bench/out/fuzz/summary.txt
# A crash leaves its input in fuzz/artifacts/TARGET/: minimise it
# (`cargo fuzz tmin TARGET FILE`), fix the parser, and add the input to the
# regression tests (tests/fuzz_regressions.rs reads tests/fixtures/fuzz/TARGET/*).
set -euo pipefail
cd "$(dirname "$0")/.."
export RUSTC_BOOTSTRAP=1
SECONDS_EACH=${FUZZ_SECONDS:-600}
OUT=bench/out/fuzz
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=(pairs vocab_dir shard shard_fixed config_json toml_config soft_labels run_files)
mkdir -p "$OUT"
seed() { # target, files...
  local dir=$OUT/corpus/$1; shift
  mkdir -p "$dir"
  for f in "$@"; do [ -f "$f" ] && head -c 65536 "$f" > "$dir/$(echo "$f" | tr / _)"; done
  for f in tests/fixtures/fuzz/"$(basename "$dir")"/*; do [ -f "$f" ] && cp "$f" "$dir/"; done
  return 0
}
# Seeds: real files of each kind (a fresh vocabulary, shard and runs from the samples).
SAMPLE=$OUT/sample
if [ ! -f "$SAMPLE/done" ]; then
  cargo build --release
  D=target/release/dapt
  head -n 200 corpora/lcqmc_desens_train.tsv > "$OUT/train.tsv"
  $D vocab --input "$OUT/train.tsv" --min-count 2 --out "$SAMPLE/vocab" 2> /dev/null
  $D encode --vocab "$SAMPLE/vocab" --input "$OUT/train.tsv" --out "$SAMPLE/train.shard" 2> /dev/null
  $D pretrain --corpus "$SAMPLE/train.shard" --vocab "$SAMPLE/vocab" --model-config tiny \
    --max-len 32 --batch-size 8 --max-steps 4 --eval-every 2 --log-every 1 --out "$SAMPLE/pt" 2> /dev/null
  $D finetune --train "$OUT/train.tsv" --vocab "$SAMPLE/vocab" --model-config tiny --folds 2 \
    --epochs 1 --max-len 32 --out "$SAMPLE/ft" 2> /dev/null
  $D predict --model "$SAMPLE/ft" --input "$OUT/train.tsv" --with-ids --out "$SAMPLE/pred.tsv" 2> /dev/null
  touch "$SAMPLE/done"
fi
join_ff() { python3 -c 'import sys; sys.stdout.buffer.write(b"\xff".join(open(p,"rb").read()[:16384] for p in sys.argv[1:]))' "$@"; }
seed pairs corpora/*.tsv
seed shard "$SAMPLE/train.shard"
# shard_fixed reads its own input layout (see its file): one block of two documents.
mkdir -p "$OUT/corpus/shard_fixed"
python3 -c 'import struct, sys; h = bytearray(128); h[8] = 1
blk = struct.pack("<8H", *range(5, 13)) + struct.pack("<6I", 0, 5, 0xFFFFFFFF, 5, 3, 1) + struct.pack("<Q", 0b100101)
sys.stdout.buffer.write(bytes(h) + bytes([2, 8, 0, 1]) + blk)' > "$OUT/corpus/shard_fixed/two_docs"
seed config_json tests/fixtures/model/*/config.json "$SAMPLE/pt/latest"
seed toml_config configs/*.toml
seed soft_labels "$SAMPLE/pred.tsv" "$SAMPLE/ft/oof.tsv"
mkdir -p "$OUT/corpus/vocab_dir" "$OUT/corpus/run_files"
v=$SAMPLE/vocab
join_ff "$v/vocab.txt" "$v/counts.tsv" "$v/dapt_vocab.json" "$v/tokenizer.json" > "$OUT/corpus/vocab_dir/sample"
ckpt=$SAMPLE/pt/$(cat "$SAMPLE/pt/latest")
join_ff "$ckpt/trainer_state.json" "$SAMPLE/pt/metrics.jsonl" /dev/null /dev/null /dev/null > "$OUT/corpus/run_files/pretrain"
join_ff "$ckpt/trainer_state.json" "$SAMPLE/ft/metrics.jsonl" "$SAMPLE/ft/cv.json" "$SAMPLE/ft/oof.tsv" "$SAMPLE/ft/folds.json" > "$OUT/corpus/run_files/finetune"
for t in vocab_dir run_files; do
  for f in tests/fixtures/fuzz/$t/*; do [ -f "$f" ] && cp "$f" "$OUT/corpus/$t/"; done
done

(cd fuzz && cargo fuzz build 2>&1 | tail -n 2)
: > "$OUT/summary.txt"
run_one() {
  local t=$1
  (cd fuzz && cargo fuzz run "$t" "../$OUT/corpus/$t" -- -max_total_time="$SECONDS_EACH" \
    -rss_limit_mb=2048 -timeout=10 -print_final_stats=1) > "$OUT/$t.log" 2>&1 || true
  local done_line
  done_line=$(grep -a "DONE\|CRASH\|ERROR: libFuzzer" "$OUT/$t.log" | tail -n 1)
  local execs
  execs=$(grep -a "stat::number_of_executed_units" "$OUT/$t.log" | awk '{print $2}')
  local crashes
  crashes=$(ls "fuzz/artifacts/$t" 2> /dev/null | wc -l)
  echo "$t: ${SECONDS_EACH}s, $execs executions; $done_line; artifacts: $crashes" >> "$OUT/summary.txt"
}
for t in "${TARGETS[@]}"; do
  run_one "$t" &
  while [ "$(jobs -rp | wc -l)" -ge "${JOBS:-1}" ]; do sleep 5; done
done
wait
cat "$OUT/summary.txt"
