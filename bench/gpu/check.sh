#!/usr/bin/env bash
# Issue #21: the GPU check, one prepared script for the device machine (one H200 with
# PyTorch and transformers; nothing can be fetched there). Run from the repository root
# with bench/gpu/carry/ (made by bench/gpu/build.sh) carried along:
#   DEVICE=cuda:0 bash bench/gpu/check.sh
# DEVICE=cpu is the CPU half (runs here with the CPU build:
#   DEVICE=cpu BIN=target/release/dapt bash bench/gpu/check.sh; the tests through cargo).
# Budget: under 8 minutes; every step has a timeout, and a failed step is reported
# while the others go on. Every figure goes to $OUT/check.txt (OUT: the device tool's
# $OUT, else bench/out/gpu), the runs' metrics beside it.
#   1. environment: GPU, driver, PyTorch, libraries the binary needs
#   2. parity: dapt's model parity tests (MLM and classifier forward and backward,
#      encoder, bf16) on DEVICE against the transformers fixture, and transformers
#      itself on DEVICE against the same fixture
#   3. 50 pretraining steps on DEVICE against the same 50 on the CPU (small preset)
#   4. 200 steps bf16 against f32 on DEVICE (small preset)
#   5. speed: `small` and `base`, seq 128, batch 64, n-gram masking, Lookahead(AdamW),
#      dapt f32 / bf16 against transformers eager f32 / TF32 / bf16 autocast on the same
#      corpus and vocabulary (token masking there); peak GPU memory of each
#   6. issue #22: the NCCL backend with world size 1 (torchrun's variables set by hand):
#      its collectives (tests/dist_nccl.rs), and 20 steps with --dist nccl against the
#      same 20 with --dist none
set -uo pipefail
cd "$(dirname "$0")/../.."
DEVICE=${DEVICE:-cuda:0}
CARRY=bench/gpu/carry
OUT=${OUT:-bench/out/gpu}
W=$OUT/work
mkdir -p "$OUT" "$W"
# The carried binaries, unpacked with Python's lzma (xz may be missing there).
if [ -z "${BIN:-}" ]; then
  python3 -c 'import lzma, os, sys
for src in sys.argv[2:]:
    dst = os.path.join(sys.argv[1], os.path.relpath(src, "bench/gpu/carry")[:-3])
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    open(dst, "wb").write(lzma.open(src).read())
    os.chmod(dst, 0o755)' "$W/bin" "$CARRY"/dapt.xz "$CARRY"/tests/*.xz
  BIN=$W/bin/dapt
  TESTS=${TESTS:-$W/bin/tests}
fi
TESTS=${TESTS:-cargo}
R=$OUT/check.txt
: > "$R"
T0=$SECONDS
log() { echo "$*" | tee -a "$R"; }
# step NAME SECONDS CMD...: run with a timeout, output into the report.
step() {
  local name=$1 limit=$2 t=$SECONDS rc
  shift 2
  log "## $name"
  # Through bash, so the script's functions run too; timeout stops the whole group.
  timeout "$limit" bash -c '"$@"' step "$@" >> "$R" 2>&1
  rc=$?
  log "($name: exit $rc, $((SECONDS - t)) s; $((SECONDS - T0)) s in all)"
  return $rc
}
# The CUDA libraries the binary links (cuBLAS, cuRAND, NVRTC 13) from PyTorch's wheels.
LIBS=$(python3 -c 'import glob, os, nvidia
print(":".join(sorted({os.path.dirname(f) for p in nvidia.__path__ for f in glob.glob(os.path.join(p, "**", "lib*.so*"), recursive=True)})))' 2> /dev/null)
export LD_LIBRARY_PATH=${LIBS}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export RAYON_NUM_THREADS=${RAYON_NUM_THREADS:-$(nproc)}
CUDA_PY=cpu
[ "$DEVICE" = cpu ] || CUDA_PY=cuda

env_info() {
  date -u
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2> /dev/null || echo "no nvidia-smi"
  python3 -c 'import torch, transformers; print("torch", torch.__version__, "cuda", torch.version.cuda, "transformers", transformers.__version__, "gpu", torch.cuda.is_available())'
  nproc
  ldd "$BIN" | grep -E "not found|cublas|curand|nvrtc|libcuda" || true
  "$BIN" --version
}
export -f env_info
export BIN CARRY W DEVICE
step "environment" 60 env_info

# 2. Parity.
for t in model_mlm model_pair model_parity model_precision; do
  if [ "$TESTS" = cargo ]; then
    step "parity $t on $DEVICE" 300 env DAPT_TEST_DEVICE="$DEVICE" cargo test -q --test "$t" -- --nocapture
  else
    step "parity $t on $DEVICE" 60 env DAPT_TEST_DEVICE="$DEVICE" "$TESTS/$t" --nocapture
  fi
done
step "transformers on $CUDA_PY against the fixture" 120 python3 bench/gpu/torch_parity.py --device "$CUDA_PY"

# Data: MRPC's training pairs with BERT's uncased vocabulary (30,522 tokens).
"$BIN" encode --vocab "$CARRY/vocab" --input "$CARRY/mrpc_train.tsv" --pairs-as both \
  --out "$W/mrpc.shard" 2>> "$R" || log "encode failed"
pretrain() { # out, device, preset, steps, extra...
  local out=$1 dev=$2 preset=$3 steps=$4
  shift 4
  rm -rf "$out"
  "$BIN" pretrain --corpus "$W/mrpc.shard" --vocab "$CARRY/vocab" --model-config "$preset" \
    --device "$dev" --max-steps "$steps" --eval-every 0 --save-every 0 --eval-fraction 0.01 \
    --seed 1 --out "$out" "$@" 2> "$out.log"
  local rc=$?
  tail -n 1 "$out.log"
  return $rc
}

export -f pretrain

# 3. GPU against CPU, 50 steps of the small preset (same data order, masks, dropout).
if [ "$DEVICE" != cpu ]; then
  step "pretrain 50 steps small on $DEVICE" 120 pretrain "$W/p50-gpu" "$DEVICE" small 50 \
    --batch-size 32 --max-len 128 --log-every 5 --mask ngram --optimizer lookahead --lr 5e-4
  step "pretrain 50 steps small on cpu" 240 pretrain "$W/p50-cpu" cpu small 50 \
    --batch-size 32 --max-len 128 --log-every 5 --mask ngram --optimizer lookahead --lr 5e-4
  step "50-step curves, $DEVICE (A) against cpu (B)" 30 python3 bench/gpu/curves.py "$W/p50-gpu" "$W/p50-cpu" "gpu vs cpu"
fi

# 4. bf16 against f32 over 200 steps.
P200=${P200:-200} # fewer for a quick CPU half
for p in f32 bf16; do
  step "pretrain $P200 steps small $p on $DEVICE" 180 pretrain "$W/p200-$p" "$DEVICE" small "$P200" \
    --batch-size 64 --max-len 128 --log-every 10 --mask ngram --optimizer lookahead --lr 5e-4 --precision "$p"
done
step "$P200-step curves, f32 (A) against bf16 (B)" 30 python3 bench/gpu/curves.py "$W/p200-f32" "$W/p200-bf16" "f32 vs bf16"

# 5. Speed and memory (GPU only: the CPU figures live in bench/pretrain_compare.sh).
peak_mib() { # command...: run it while sampling the GPU's used memory; print the peak
  local f=$W/mem.txt
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 > "$f" 2> /dev/null &
  local pid=$!
  "$@"
  local rc=$?
  kill "$pid" 2> /dev/null
  wait "$pid" 2> /dev/null
  echo "nvidia-smi peak MiB $(sort -n "$f" | tail -n 1)"
  return $rc
}
export -f peak_mib
if [ "$DEVICE" != cpu ]; then
  for preset in small base; do
    steps=40
    for p in f32 bf16; do
      step "speed dapt $preset $p" 120 peak_mib pretrain "$W/s-$preset-$p" "$DEVICE" "$preset" "$steps" \
        --batch-size 64 --max-len 128 --log-every 5 --mask ngram --optimizer lookahead --lr 1e-4 --precision "$p"
      log "dapt $preset $p tokens/s $(python3 bench/gpu/tokens_per_s.py "$W/s-$preset-$p" 5 2>&1)"
    done
    for p in f32 tf32 bf16; do
      step "speed transformers $preset $p" 120 peak_mib python3 bench/pretrain_ref.py \
        --corpus "$CARRY/mrpc_train.tsv" --vocab "$CARRY/vocab" --preset "$preset" --batch-size 64 \
        --max-len 128 --steps $((steps - 5)) --warmup 5 --threads "$(nproc)" --lr 1e-4 \
        --device cuda --precision "$p"
    done
  done
fi
# 6. NCCL, world size 1: the collectives through NCCL, then a training run that joins
# its communicator.
if [ "$DEVICE" != cpu ]; then
  step "NCCL collectives on one GPU" 90 env RANK=0 WORLD_SIZE=1 LOCAL_RANK=0 \
    DAPT_RENDEZVOUS=127.0.0.1:29532 "$TESTS/dist_nccl" --ignored --nocapture
  step "pretrain 20 steps small --dist none on $DEVICE" 90 pretrain "$W/nccl-none" "$DEVICE" small 20 \
    --batch-size 32 --max-len 128 --log-every 1 --dist none
  step "pretrain 20 steps small --dist nccl (world size 1) on $DEVICE" 90 env RANK=0 WORLD_SIZE=1 \
    LOCAL_RANK=0 DAPT_RENDEZVOUS=127.0.0.1:29533 bash -c 'pretrain "$@"' nccl "$W/nccl-one" "$DEVICE" small 20 \
    --batch-size 32 --max-len 128 --log-every 1 --dist nccl
  step "20-step curves, --dist none (A) against --dist nccl (B)" 30 python3 bench/gpu/curves.py "$W/nccl-none" "$W/nccl-one" "none vs nccl"
fi
log "check done in $((SECONDS - T0)) s"
