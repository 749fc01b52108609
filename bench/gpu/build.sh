#!/usr/bin/env bash
# Issue #21 item 1: build what bench/gpu/check.sh runs on a GPU machine, here, on a
# machine with no GPU and no system CUDA:
#   - the CUDA 13.0 toolkit from PyPI wheels (nvcc, headers, cuBLAS, cuRAND, NVRTC) in
#     bench/gpu/toolkit/ (ignored). 13.0 because PyPI's CUDA 12 wheels hold no nvcc, and
#     13.0 is the oldest 13: its PTX loads on drivers R580 and newer. The binary links
#     libcublas.so.13 and friends, which check.sh finds in the GPU machine's PyTorch
#     install (a CUDA 13 build of PyTorch) and reports missing otherwise.
#   - a libcuda.so link stub (the driver library exists only on GPU machines): every
#     cu* function cudarc declares, empty; the real libcuda.so.1 is loaded at run time.
#   - `cargo build --release --features nccl` (CUDA and the NCCL backend of issue #22;
#     libnccl.so.2 is loaded at run time) with CUDA_COMPUTE_CAP=90 (H100/H200) and
#     the model parity test binaries, stripped, with a vocabulary and a corpus, into
#     bench/gpu/carry/ (ignored), xz-compressed to fit the device tool's 64 MiB.
# First build ~25 min on 2 cores (candle's kernels); then incremental.
#   bash bench/gpu/build.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
TK=$PWD/bench/gpu/toolkit
CUDA=$TK/wheels/nvidia/cu13
if [ ! -f "$TK/done" ]; then
  mkdir -p "$TK"
  [ -x "$CUDA/bin/nvcc" ] || python3 -m pip install --quiet --no-deps --target "$TK/wheels" \
    "nvidia-cuda-nvcc==13.0.*" "nvidia-nvvm==13.0.*" "nvidia-cuda-crt==13.0.*" \
    "nvidia-cuda-runtime==13.0.*" "nvidia-cuda-nvrtc==13.0.*" "nvidia-cuda-cccl==13.0.*" \
    "nvidia-cublas>=13.0,<13.1" "nvidia-curand>=10.4.0,<10.4.1"
  # The wheels share one tree, nvidia/cu13/{bin,include,lib,nvvm}; the linker wants
  # unversioned names.
  for lib in cublas cublasLt curand nvrtc cudart; do
    so=$(ls "$CUDA"/lib/lib$lib.so.* 2> /dev/null | sort | head -n 1)
    [ -n "$so" ] && ln -sf "$(basename "$so")" "$CUDA/lib/lib$lib.so"
  done
  ln -sfn lib "$CUDA/lib64"
  # The driver stub, soname libcuda.so.1 as the real one.
  CUDARC=$(ls -d "${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/cudarc-0.19.* | tail -n 1)
  grep -ho 'fn cu[A-Za-z0-9_]*(' "$CUDARC"/src/driver/sys/mod.rs | sed 's/fn \(.*\)(/\1/' \
    | sort -u | sed 's/.*/void &(void) {}/' > "$TK/libcuda_stub.c"
  gcc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$CUDA/lib/libcuda.so" "$TK/libcuda_stub.c"
  touch "$TK/done"
fi
"$CUDA/bin/nvcc" --version | tail -n 2
export CUDA_HOME=$CUDA CUDA_PATH=$CUDA CUDA_COMPUTE_CAP=90
export PATH=$CUDA/bin:$PATH LIBRARY_PATH=$CUDA/lib LD_LIBRARY_PATH=$CUDA/lib
export CARGO_TARGET_DIR=${CUDA_TARGET_DIR:-target/cuda}
cargo build --release --features nccl --bin dapt
# The model parity tests, run on the GPU through DAPT_TEST_DEVICE.
TESTS=(model_mlm model_pair model_parity model_precision dist_nccl)
cargo test --release --features nccl --no-run "${TESTS[@]/#/--test=}" 2>&1 | tee "$TK/tests.log" | tail -n 5
OUT=bench/gpu/carry
rm -rf "$OUT" && mkdir -p "$OUT/tests" "$OUT/vocab"
strip -o "$OUT/dapt" "$CARGO_TARGET_DIR/release/dapt"
for t in "${TESTS[@]}"; do
  exe=$(grep -o "tests/$t.rs ([^)]*)" "$TK/tests.log" | sed 's/.*(\(.*\))/\1/')
  strip -o "$OUT/tests/$t" "$exe"
done
# Data for the speed and loss-curve checks: BERT's uncased WordPiece vocabulary (from
# all-MiniLM-L6-v2, 30,522 tokens) and MRPC's training pairs (the shipped sample when
# ../shared is absent).
source bench/study_lib.sh
minilm_checkpoint bench/out/gpu
cp "$MINILM"/{vocab.txt,tokenizer.json,tokenizer_config.json,special_tokens_map.json,config.json} "$OUT/vocab/"
MRPC=../shared/data/mrpc/msr_paraphrase_train.pairs.tsv
[ -f "$MRPC" ] || MRPC=corpora/mrpc_sample.tsv
cp "$MRPC" "$OUT/mrpc_train.tsv"
# Compressed: the binaries embed candle's kernels as PTX text (xz: 242 MB -> ~33 MB).
xz -T0 -6 "$OUT/dapt" "$OUT"/tests/*
ls -la "$OUT" "$OUT/tests"
du -sh "$OUT"
