// Prelude of the binding layer: the only headers that include pybind11.
// Arrays are borrowed, never converted: a wrong dtype, layout or shape is a
// ValueError that names the argument, never a hidden copy.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <string>

#include "cisreg/error.hpp"

namespace py = pybind11;

namespace cisreg::bind {

template <class T>
const char* dtype_name();
template <> inline const char* dtype_name<double>() { return "float64"; }
template <> inline const char* dtype_name<uint8_t>() { return "uint8"; }
template <> inline const char* dtype_name<int64_t>() { return "int64"; }

// Check dtype, C-contiguity and ndim of `obj` (must be a numpy array) and return it.
template <class T>
py::array checked(const py::handle& obj, const char* name, int ndim, bool writeable = false) {
    if (!py::isinstance<py::array>(obj))
        throw InputError(std::string(name) + ": expected a numpy array of " + dtype_name<T>() + ", got " +
                         std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
    py::array a = py::reinterpret_borrow<py::array>(obj);
    // same kind and size in native byte order (np.longlong is int64 too)
    const py::dtype dt = a.dtype();
    const py::dtype want = py::dtype::of<T>();
    const bool same = dt.kind() == want.kind() && dt.itemsize() == want.itemsize() &&
                      py::bool_(dt.attr("isnative")) && !dt.has_fields();
    if (!same)
        throw InputError(std::string(name) + ": expected dtype " + dtype_name<T>() + ", got " +
                         std::string(py::str(a.dtype())) + " (convert once with np.ascontiguousarray(" + name +
                         ", dtype=np." + dtype_name<T>() + "))");
    if (a.ndim() != ndim)
        throw InputError(std::string(name) + ": expected a " + std::to_string(ndim) + "-D array, got " +
                         std::to_string(a.ndim()) + "-D");
    if (!(a.flags() & py::array::c_style))
        throw InputError(std::string(name) + ": array must be C-contiguous (use np.ascontiguousarray; cisreg does not copy silently)");
    if (writeable && !a.writeable()) throw InputError(std::string(name) + ": array must be writeable");
    return a;
}

inline void check_len(const py::array& a, int axis, int64_t want, const char* name, const char* what) {
    if (a.shape(axis) != want)
        throw InputError(std::string(name) + ": axis " + std::to_string(axis) + " has length " +
                         std::to_string(a.shape(axis)) + ", expected " + std::to_string(want) + " (" + what + ")");
}

// Whether two byte ranges share memory (an output must never alias an input).
inline bool overlaps(const void* a, size_t na, const void* b, size_t nb) {
    const auto pa = reinterpret_cast<uintptr_t>(a), pb = reinterpret_cast<uintptr_t>(b);
    return na > 0 && nb > 0 && pa < pb + nb && pb < pa + na;
}

inline void check_finite(const double* p, int64_t n, const char* name) {
    for (int64_t i = 0; i < n; ++i)
        if (!std::isfinite(p[i]))
            throw InputError(std::string(name) + "[" + std::to_string(i) + "] is " + (std::isnan(p[i]) ? "NaN" : "infinite") +
                             "; parameters must be finite (lower the learning rate or check the initial values)");
}

}  // namespace cisreg::bind
