// Prelude of the binding layer: the only headers that include pybind11.
// Arrays are borrowed, never converted: a wrong dtype, layout or shape is an InputError
// (cisreg.InputError, a ValueError) that names the argument, never a hidden copy.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>

#include "cisreg/error.hpp"

namespace py = pybind11;

namespace cisreg::bind {

template <class T>
const char* dtype_name();
template <>
inline const char* dtype_name<double>() {
    return "float64";
}
template <>
inline const char* dtype_name<float>() {
    return "float32";
}
template <>
inline const char* dtype_name<uint8_t>() {
    return "uint8";
}
template <>
inline const char* dtype_name<int64_t>() {
    return "int64";
}

// Whether `a` holds T (same kind and size in native byte order; np.longlong is int64 too).
template <class T>
bool holds(const py::array& a) {
    const py::dtype dt = a.dtype();
    const py::dtype want = py::dtype::of<T>();
    return dt.kind() == want.kind() && dt.itemsize() == want.itemsize() && py::bool_(dt.attr("isnative")) &&
           !dt.has_fields();
}

inline py::array as_array(const py::handle& obj, const char* name, const char* want) {
    if (!py::isinstance<py::array>(obj))
        throw InputError(std::string(name) + ": expected a numpy array of " + want + ", got " +
                         std::string(py::str(py::type::handle_of(obj).attr("__name__"))));
    return py::reinterpret_borrow<py::array>(obj);
}

inline void check_layout(const py::array& a, const char* name, int ndim, bool writeable) {
    if (a.ndim() != ndim)
        throw InputError(std::string(name) + ": expected a " + std::to_string(ndim) + "-D array, got " +
                         std::to_string(a.ndim()) + "-D");
    if (!(a.flags() & py::array::c_style))
        throw InputError(std::string(name) +
                         ": array must be C-contiguous (use np.ascontiguousarray; cisreg does not copy silently)");
    if (writeable && !a.writeable()) throw InputError(std::string(name) + ": array must be writeable");
}

// Check dtype, C-contiguity and ndim of `obj` (must be a numpy array) and return it.
template <class T>
py::array checked(const py::handle& obj, const char* name, int ndim, bool writeable = false) {
    py::array a = as_array(obj, name, dtype_name<T>());
    if (!holds<T>(a))
        throw InputError(std::string(name) + ": expected dtype " + dtype_name<T>() + ", got " +
                         std::string(py::str(a.dtype())) + " (convert once with np.ascontiguousarray(" + name +
                         ", dtype=np." + dtype_name<T>() + "))");
    check_layout(a, name, ndim, writeable);
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

}  // namespace cisreg::bind
