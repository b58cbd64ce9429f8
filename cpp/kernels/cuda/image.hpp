// The plan image of the CUDA back end (kernels/cuda/device_plan.hpp), built on the host.
// Plain C++: compiled into every build, so that the image and its refresh can be checked
// on machines without a GPU (image_selfcheck, exposed to the tests).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "cisreg/ops.hpp"
#include "kernels/cuda/device_plan.hpp"
#include "src/plan.hpp"

namespace cisreg::cuda {

// Per-row sizes of the kernels' scratch (in units of T unless noted) and accumulators.
struct RowSizes {
    int32_t L = 0;        // sequence length (codes, int32 each)
    int32_t A = 4;        // alphabet size
    int32_t S = 0;        // sites: dG, ddG
    int32_t NR = 0;       // placement weights
    int32_t G = 0;        // G-P map scratch
    int32_t K = 0;        // states (phi details)
    int32_t M_meas = 0;   // measurement scratch
    int32_t NT_meas = 0;  // target columns
    int32_t M_cot = 1, NT_cot = 1;
};

template <class T>
class Image {
  public:
    // Lays out the image of model m from a plan p of it (any theta). m and p must outlive fill().
    Image(const Model& m, const Plan<T>& p);

    size_t bytes() const { return total_; }
    // Writes the image, for the address `base` it will live at, into dst [bytes()]
    // (dst == base for use on the host).
    void fill(unsigned char* dst, uintptr_t base) const;

    static constexpr size_t views_offset() { return 0; }
    size_t recipe_offset() const { return recipe_off_; }
    const RegionLayout& region(bool cotangent) const { return cotangent ? reg_cot_ : reg_meas_; }
    const RowSizes& rows() const { return sizes_; }
    int64_t n_items() const;  // of refresh_item
    bool has_scatter() const { return scatter_; }
    // Whether the model's layer 1 has tables read through per-lane scatter.

  private:
    struct Item {
        const void* src;
        size_t bytes;
        size_t off;
    };
    template <class X>
    size_t add(const std::vector<X>& v);
    size_t reserve(size_t bytes, size_t align);
    template <class X>
    X* rebase(const X* host, uintptr_t base) const;
    void rebase_src(NetSrc& s, uintptr_t base) const;
    void rebase_src(KinSrc& s, uintptr_t base) const;
    void build_flush(bool cot, std::vector<int32_t>& ptr, std::vector<int32_t>& slot, std::vector<int32_t>& cf);
    int32_t coef_id(const CoefExpr& e);

    const Model* m_;
    const Plan<T>* p_;
    std::vector<Item> items_;
    size_t total_ = 0, recipe_off_ = 0;
    // arrays owned by the image (the recipe)
    std::vector<int64_t> tab_src_, ptab_src_;
    std::vector<CoefExpr> coef_expr_;
    std::vector<double> coef_;
    std::vector<int32_t> fm_ptr_, fm_slot_, fm_cf_, fc_ptr_, fc_slot_, fc_cf_;
    size_t off_th_ = 0, off_tab_ = 0, off_ptab_ = 0, off_gp_ = 0, off_meas_ = 0, off_coef_ = 0;
    RegionLayout reg_meas_, reg_cot_;
    RowSizes sizes_;
    bool scatter_ = false;
};

extern template class Image<float>;
extern template class Image<double>;

// Checks on the host that an image built from theta0 and refreshed to theta1 holds what
// Plan<T>(m, theta1) holds, and that its flush maps agree with the CPU plan's.
// Returns "" when it does, else a description of the first difference.
std::string image_selfcheck(const Model& m, const double* theta0, const double* theta1, Precision prec);

}  // namespace cisreg::cuda
