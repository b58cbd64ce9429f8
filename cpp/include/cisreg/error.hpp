// Errors raised by the core for invalid input. A subclass of std::invalid_argument,
// so the binding layer turns it into a Python ValueError.
#pragma once
#include <stdexcept>
#include <string>

namespace cisreg {

class InputError : public std::invalid_argument {
  public:
    explicit InputError(const std::string& what) : std::invalid_argument(what) {}
};

}  // namespace cisreg
