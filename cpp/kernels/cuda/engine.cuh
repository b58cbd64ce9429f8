// The device-side model of one compute type (nvcc only): the plan image in device memory
// and the workspaces of the kernels, with the launches of one loss / phi evaluation.
#pragma once
#include "kernels/cuda/kernels.cuh"
#include "kernels/cuda/util.cuh"

namespace cisreg::cuda {

// How a batch of b positions is cut into warps: W warps of rpw positions each (the last
// one shorter). It depends on the model and b only, so results do not depend on the device
// or on how the batch is streamed.
struct Split {
    int64_t W = 0;
    int64_t rpw = 32;
};

// Memory budgets of one evaluation (per-thread scratch of the warps of one launch, and the
// warps' accumulator regions); fixed numbers, so that Split does not depend on the device.
constexpr int64_t kArenaBudget = int64_t{512} << 20;
constexpr int64_t kAccBudget = int64_t{256} << 20;
constexpr int64_t kMaxWarps = 4096;
constexpr int64_t kMinRowsPerWarp = 256;
constexpr int64_t kGroup = 64;  // warps per group of the first reduction level

template <class T>
class Engine {
  public:
    // Builds the image of m from its plan p (any theta) and uploads it to the current device.
    // m must outlive the engine.
    Engine(const Model& m, const Plan<T>& p);

    const Model& model() const { return *m_; }
    const Image<T>& image() const { return meta_; }
    // measurement index of launch_loss for the model (cot: the cotangent of phi_vjp)
    int32_t n_targets(bool cot) const { return cot ? 1 : meta_.rows().NT_meas; }

    // Re-evaluate the image for theta (device memory [P]).
    void refresh(const double* theta, cudaStream_t s);

    Split split(int64_t b, bool grad, bool cot) const;
    // Positions [0, b) of d (through rows, or rows = null) are warps w0 .. of split sp
    // (b a multiple of sp.rpw unless it ends the batch). nll_rows [b] (device) optional.
    void loss_part(const DevData& d, const int64_t* rows, int64_t b, const Split& sp, int64_t w0, bool grad, bool cot,
                   int32_t nonneg_from, int32_t positive_to, double* nll_rows, DevResult* res, cudaStream_t s);
    // Reduce the warps' regions, write res->loss and (if grad_dev) the gradient [P].
    void loss_finish(const Split& sp, bool grad, bool cot, double* grad_dev, DevResult* res, cudaStream_t s);
    // The whole batch in one launch (data on the device): zeroes res first.
    void loss(const DevData& d, const int64_t* rows, int64_t b, bool grad, bool cot, double* grad_dev, double* nll_rows,
              DevResult* res, cudaStream_t s);

    // phi [b] (and details, each optional) of positions [0, b) into device arrays.
    void phi(const DevData& d, const int64_t* rows, int64_t b, double* phi, double* dG, double* logp, double* logZ,
             double* placements, unsigned* flags, cudaStream_t s);

    int64_t loss_thread_bytes(bool cot) const;

  private:
    const Model* m_;
    Image<T> meta_;
    DevBuf img_, wacc_, part_, sums_, arena_;
    const DevViews<T>* views_ = nullptr;
    const Recipe<T>* recipe_ = nullptr;
    int32_t codes_bytes_ = 0;
};

extern template class Engine<float>;
extern template class Engine<double>;

}  // namespace cisreg::cuda
