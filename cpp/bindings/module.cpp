// Wires the binding areas together into the extension module cisreg._core.
#include "bindings/arrays.hpp"

namespace cisreg::bind {
void register_model(py::module_& m);
void register_kernels(py::module_& m);
void register_cuda(py::module_& m);
}  // namespace cisreg::bind

PYBIND11_MODULE(_core, m, py::mod_gil_not_used()) {
    m.doc() =
        "cisreg compiled core: site energies, partition functions, kinetic steady states, measurement "
        "likelihoods and their gradients";
    // Input errors of the core arrive as cisreg.InputError (a ValueError); outside the
    // package (the module imported on its own) as ValueError.
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const cisreg::InputError& e) {
            PyObject* cls = PyExc_ValueError;
            py::object keep;
            try {
                keep = py::module_::import("cisreg.errors").attr("InputError");
                cls = keep.ptr();
            } catch (py::error_already_set&) {
            }
            PyErr_SetString(cls, e.what());
        }
    });
    cisreg::bind::register_model(m);
    cisreg::bind::register_kernels(m);
    cisreg::bind::register_cuda(m);
}
