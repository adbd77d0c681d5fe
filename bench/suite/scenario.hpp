// The workloads: how many threads, what they do inside and outside the lock.
#pragma once

#include <string>
#include <vector>

#include "condition.hpp"

namespace bench {

enum class pattern {
  uncontended,  // one thread: the cost of a lock+unlock pair
  steady,       // every critical section the same length
  multimodal,   // 98% of sections 100 ns, 2% 50 us (the RFC's motivating case)
  owner_sleeps, // every 4th section sleeps 50 us holding the lock (sysbench threads)
};

struct scenario {
  std::string name;
  pattern kind;
  int threads;
  int inside_ns;  // steady: the section; others: the short section
  int outside_ns; // work between sections
  condition cond = condition::none;
};

// quick: about 6 minutes on 2 CPUs; full: every combination the report plots.
std::vector<scenario> scenarios(bool full);

const char *pattern_name(pattern p);

} // namespace bench
