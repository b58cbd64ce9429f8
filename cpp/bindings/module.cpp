// Wires the binding areas together into the extension module cisreg._core.
#include "bindings/arrays.hpp"

namespace cisreg::bind {
void register_network(py::module_& m);
void register_kinetic(py::module_& m);
}

PYBIND11_MODULE(_core, m, py::mod_gil_not_used()) {
    m.doc() = "cisreg compiled core: site energies, partition functions, measurement likelihoods and gradients";
    py::register_exception_translator([](std::exception_ptr p) {
        try {
            if (p) std::rethrow_exception(p);
        } catch (const cisreg::InputError& e) {
            PyErr_SetString(PyExc_ValueError, e.what());
        }
    });
    cisreg::bind::register_network(m);
    cisreg::bind::register_kinetic(m);
}
