// Kernel instantiations: compute type float, G-P map NetStage.
#include "kernels/cuda/launch.cuh"

CISREG_CUDA_LAUNCHERS(float, stages::NetStage<float>)
