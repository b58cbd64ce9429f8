#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and the CUDA toolkit: build cisreg with the CUDA back
# end, run the CUDA tests and the GPU benchmark. About 5 minutes on an H200 host.
#
#   PYTHON=/path/to/venv/bin/python tools/gpu_check.sh [OUTDIR]
#
# PYTHON must have numpy, pandas, scipy, tqdm, pytest, hypothesis, scikit-build-core,
# pybind11, ninja and cmake installed (no network is needed). CMAKE_CUDA_ARCHITECTURES
# defaults to 90 here (H100/H200) to keep the build short; the project's default is "80;90".
# BENCH_ARGS adds options of bench/bench_gpu.py (e.g. --cpu-fit to time the lac fit on the CPU too).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
OUT=${1:-gpu_check_out}
ARCH=${CMAKE_CUDA_ARCHITECTURES:-90}
mkdir -p "$OUT"
export PATH="$(dirname "$PY"):$PATH"
command -v nvcc >/dev/null || export PATH="/usr/local/cuda/bin:$PATH"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/nvidia-smi.txt" || true

echo "== build (CISREG_CUDA=ON, architectures $ARCH)"
start=$(date +%s)
CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc)} \
  "$PY" -m pip install -e . --no-build-isolation --no-deps -q \
  -Ccmake.define.CISREG_CUDA=ON -Ccmake.define.CMAKE_CUDA_ARCHITECTURES="$ARCH" \
  -Cbuild-dir=build/gpu 2>&1 | tail -20 | tee "$OUT/build.log"
echo "build: $(( $(date +%s) - start )) s"
"$PY" -c "import cisreg, json; from cisreg import _core; print('cuda_available', cisreg.cuda_available()); \
print(json.dumps(_core.cuda_device_info()))" | tee "$OUT/device.txt"

echo "== tests/test_cuda.py"
"$PY" -m pytest -q -ra tests/test_cuda.py 2>&1 | tee "$OUT/test_cuda.log"

echo "== bench/bench_gpu.py"
"$PY" bench/bench_gpu.py --json "$OUT/bench_gpu.jsonl" ${BENCH_ARGS:-} 2>&1 | tee "$OUT/bench_gpu.log"
echo "done: results in $OUT"
