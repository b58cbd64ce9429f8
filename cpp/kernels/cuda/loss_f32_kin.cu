// Kernel instantiations: compute type float, G-P map KinStage.
#include "kernels/cuda/launch.cuh"

CISREG_CUDA_LAUNCHERS(float, stages::KinStage<float>)
