// One measured run of one lock under one scenario.
#pragma once

#include <cstdint>
#include <onspin/onspin.h>
#include <vector>

#include "lock_api.hpp"
#include "scenario.hpp"

namespace bench {

struct run_result {
  double seconds = 0;
  uint64_t acquisitions = 0;
  double cpu_seconds = 0;        // user + sys of the whole process
  uint64_t context_switches = 0; // voluntary + involuntary
  std::vector<uint64_t> per_thread;
  std::vector<uint32_t> latency_ns; // sampled lock() durations, sorted
  onspin_stats onspin{};            // slow-path counters (onspin locks only)
  bool exclusion_held = true;
};

// Runs `threads` threads on a fresh lock for `seconds`. turns_per_ns
// converts nanoseconds of work into loop turns (calibrated once).
run_result run_once(const peer &p, const scenario &s, double seconds, double turns_per_ns);

} // namespace bench
