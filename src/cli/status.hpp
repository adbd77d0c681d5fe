// `onspin status`: the oracle a process linking onspin gets, why, the map,
// and a live self-check of the oracle's answers.
#pragma once

namespace onspin::cli {

// Prints the report; returns 0, or 1 if the self-check failed.
int print_status();

} // namespace onspin::cli
