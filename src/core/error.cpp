#include "core/error.h"

namespace sgt {

Error::Error(std::string component, const std::string& message)
    : std::runtime_error("[" + component + "] " + message), component_(std::move(component)), detail_(message) {}

std::string shape_str(const std::vector<int64_t>& shape) { return fmt::format("[{}]", fmt::join(shape, ", ")); }

void throw_error(const char* component, const std::string& message) { throw Error(component, message); }

}  // namespace sgt
