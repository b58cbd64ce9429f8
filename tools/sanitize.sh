#!/usr/bin/env bash
# Build cisreg._core with AddressSanitizer + UndefinedBehaviorSanitizer and run the
# tests that exercise the C++ core under it. Usage: tools/sanitize.sh [pytest args]
# Needs gcc with libasan/libubsan, cmake, ninja, pybind11, and the runtime dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/sanitize
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCISREG_SANITIZE=ON \
      -Dpybind11_DIR="$(python -c 'import pybind11; print(pybind11.get_cmake_dir())')" >/dev/null
ninja -C "$build"
# an import tree whose compiled module is the sanitized one
tree="$build/py"
rm -rf "$tree" && mkdir -p "$tree/cisreg"
for f in python/cisreg/*; do ln -sfn "$PWD/$f" "$tree/cisreg/"; done
rm -f "$tree"/cisreg/_core*.so
ln -sf "$PWD/$build"/_core*.so "$tree/cisreg/"
# Python itself is not built with ASan: preload the runtimes, ignore CPython's leaks.
export LD_PRELOAD="$(gcc -print-file-name=libasan.so):$(gcc -print-file-name=libubsan.so)"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
PYTHONPATH="$tree" python -m pytest -q -p no:cacheprovider \
    tests/test_core.py tests/test_boundary.py tests/test_properties.py tests/test_kinetic.py tests/test_io.py "$@"
