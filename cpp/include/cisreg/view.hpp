// Non-owning views of contiguous arrays. Plain data: usable from host and device code.
#pragma once
#include <cstdint>

namespace cisreg {

// A contiguous 1-D array.
template <class T>
struct View {
    T* data = nullptr;
    int64_t n = 0;
};

// A contiguous row-major 2-D array [rows, cols].
template <class T>
struct MatView {
    T* data = nullptr;
    int64_t rows = 0;
    int64_t cols = 0;
};

// A batch of sequences: codes [n, L] (uint8, row-major) and an optional row
// selection rows [b]. With rows == nullptr the batch is every row 0..n-1.
struct SeqBatch {
    const uint8_t* codes = nullptr;  // [n, L]
    int64_t n = 0;
    int64_t L = 0;
    const int64_t* rows = nullptr;   // [b] or nullptr
    int64_t b = 0;                   // batch size (== n when rows == nullptr)

    int64_t row(int64_t i) const { return rows ? rows[i] : i; }
};

// How to run a kernel. Threads are an argument, never a global.
enum class Device { CPU = 0, CUDA = 1 };
struct Exec {
    Device device = Device::CPU;
    int n_threads = 1;
    void* stream = nullptr;
};

}  // namespace cisreg
