#!/usr/bin/env bash
# The test suite: `cargo test`, then the data-parallel tests of the `mpi` feature where
# Open MPI can be built against (mpirun and libclang present; CI installs them). Without
# them those tests are skipped with a note, except under CI, where that is an error.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test
# libclang is looked for as a file: `ldconfig -p | grep -q` can fail under pipefail (grep
# exits early, ldconfig dies of SIGPIPE) and ldconfig is not on every PATH.
has_libclang() { compgen -G '/usr/lib/*/libclang*.so*' || compgen -G '/usr/lib/llvm-*/lib/libclang*.so*'; } > /dev/null
if command -v mpirun > /dev/null && has_libclang; then
  cargo test --features mpi --test dist_collective --test dist_pretrain --test dist_finetune --test dist_golden
elif [ -n "${CI:-}" ]; then
  echo "CI: the MPI tests need Open MPI and libclang (apt-get install libopenmpi-dev openmpi-bin libclang-dev)" >&2
  exit 1
else
  echo "note: skipped the data-parallel (MPI) tests: apt-get install libopenmpi-dev openmpi-bin libclang-dev to run them" >&2
fi
