// placeholder: the golden MAC model is being written (see golden_mac.hpp)
#include "sim/golden/golden_mac.hpp"
#include <stdexcept>
namespace fp8sim::golden {
MacOutcome mac_dot(const MacConfig&, std::span<const std::uint64_t>, std::span<const std::uint64_t>, std::optional<std::uint64_t>, std::uint64_t, std::uint64_t) { throw std::logic_error("golden MAC model not built yet"); }
}
