// Kernel instantiations: compute type double, G-P map NetStage.
#include "kernels/cuda/launch.cuh"

CISREG_CUDA_LAUNCHERS(double, stages::NetStage<double>)
