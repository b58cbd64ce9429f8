#!/usr/bin/env bash
# The maintainers' checks, as .ci/run makes them: ruff (lint), mypy --strict on
# python/cisreg, the stubs of cisreg._core against the built module, clang-format on cpp/.
# Needs an installed cisreg (pip install -e . or pip install .); installs the lint extra's
# pinned tools into the active environment.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q "ruff==0.17.6" "mypy==2.4.1" "pandas-stubs==3.1.0.261029" "clang-format==19.1.7"
echo "ruff:" && ruff check python tests bench docs
echo "mypy:" && python -m mypy && python -m mypy --strict tools/user_code.py
echo "stubtest:" && python -m mypy.stubtest cisreg._core --allowlist tools/stubtest-allowlist.txt
echo "clang-format:" && git ls-files 'cpp/*.cpp' 'cpp/*.hpp' 'cpp/*.cu' 'cpp/*.cuh' | xargs clang-format --dry-run --Werror
echo "all checks passed"
