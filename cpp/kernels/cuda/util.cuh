// Host-side helpers of the CUDA back end (nvcc only): error checks and owning buffers.
#pragma once
#include <cuda_runtime.h>

#include <cstddef>
#include <string>

namespace cisreg::cuda {

// Throws std::runtime_error naming the call and the CUDA error (an out-of-memory error
// says how to use less memory).
[[noreturn]] void fail(cudaError_t e, const char* what);
inline void check(cudaError_t e, const char* what) {
    if (e != cudaSuccess) fail(e, what);
}

// Device memory, grow-only (never shrinks; contents are not kept when it grows).
class DevBuf {
  public:
    DevBuf() = default;
    ~DevBuf() { release(); }
    DevBuf(const DevBuf&) = delete;
    DevBuf& operator=(const DevBuf&) = delete;
    void* reserve(size_t bytes, const char* what) {
        if (bytes > cap_) {
            release();
            check(cudaMalloc(&p_, bytes), what);
            cap_ = bytes;
        }
        return p_;
    }
    template <class X>
    X* as() const {
        return static_cast<X*>(p_);
    }
    size_t capacity() const { return cap_; }
    void release() {
        if (p_) cudaFree(p_);
        p_ = nullptr;
        cap_ = 0;
    }

  private:
    void* p_ = nullptr;
    size_t cap_ = 0;
};

}  // namespace cisreg::cuda
