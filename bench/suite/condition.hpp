// What else runs while a scenario runs: nothing, CPU-bound processes outside
// the benchmark (noisy neighbours), or a CPU quota on the benchmark (cgroup
// bandwidth control, cpu.max). Both make lock owners lose their CPU at
// moments the locks cannot predict, which is where owner awareness decides.
#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

namespace bench {

enum class condition {
  none,
  noisy, // one busy-looping process per CPU beside the benchmark
  quota, // the benchmark process limited to half the CPUs' time
};

const char *condition_name(condition c);

// Sets the condition up for its lifetime and takes it down after. ready()
// is false, with why() saying why, when it could not be set up (a quota
// needs root and a cgroup with the cpu controller); the scenario is then
// skipped.
class condition_scope {
public:
  explicit condition_scope(condition c);
  ~condition_scope();
  condition_scope(const condition_scope &) = delete;
  condition_scope &operator=(const condition_scope &) = delete;

  bool ready() const { return why_.empty(); }
  const std::string &why() const { return why_; }

private:
  void start_neighbours();
  void start_quota();

  std::vector<pid_t> neighbours_;
  std::string group_; // the quota's cgroup directory
  std::string home_;  // where the process came from (cgroup.procs)
  std::string why_;
};

} // namespace bench
