"""Baselines for the benchmarks in bench/: the same lac-model loss and gradient as cisreg's
kernel, written as a hand-fused float32 C++ kernel (``fused``) and in PyTorch (``torch_lac``).
See README.md in this folder."""
