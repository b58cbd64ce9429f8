// Kernel instantiations: compute type double, G-P map KinStage.
#include "kernels/cuda/launch.cuh"

CISREG_CUDA_LAUNCHERS(double, stages::KinStage<double>)
