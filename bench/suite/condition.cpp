#include "condition.hpp"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>
#include <vector>

namespace bench {
namespace {

// A short period spreads the throttling over each run (runs last 0.15 to
// 0.5 s); the kernel accepts periods from 1 ms.
constexpr long kPeriodUs = 20000;

// A neighbour that outlives a crashed benchmark stops by itself.
constexpr unsigned kNeighbourLifetimeS = 900;

bool write_file(const std::string &path, const std::string &text, std::string *why) {
  std::ofstream f(path);
  f << text;
  f.flush();
  if (f) return true;
  if (why) *why = "cannot write " + text + " to " + path + ": " + std::strerror(errno);
  return false;
}

bool exists(const std::string &path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0;
}

// The process's cgroup path in the hierarchy whose /proc/self/cgroup line
// has this controller list ("" for the unified one), or "" if none.
std::string own_cgroup(const std::string &controller) {
  std::ifstream f("/proc/self/cgroup");
  for (std::string line; std::getline(f, line);) {
    // hierarchy-ID:controller-list:cgroup-path
    const size_t a = line.find(':'), b = line.find(':', a + 1);
    if (a == std::string::npos || b == std::string::npos) continue;
    const std::string list = line.substr(a + 1, b - a - 1);
    std::stringstream names(list);
    bool match = controller.empty() && list.empty();
    for (std::string n; !match && std::getline(names, n, ',');)
      match = n == controller;
    if (match) return line.substr(b + 1);
  }
  return "";
}

} // namespace

const char *condition_name(condition c) {
  switch (c) {
  case condition::none:
    return "none";
  case condition::noisy:
    return "noisy";
  case condition::quota:
    return "quota";
  }
  return "?";
}

condition_scope::condition_scope(condition c) {
  if (c == condition::noisy) start_neighbours();
  if (c == condition::quota) start_quota();
}

void condition_scope::start_neighbours() {
  const unsigned n = std::max(1u, std::thread::hardware_concurrency());
  const pid_t parent = getpid();
  for (unsigned i = 0; i < n; ++i) {
    const pid_t pid = fork();
    if (pid < 0) {
      why_ = std::string("fork: ") + std::strerror(errno);
      return;
    }
    if (pid == 0) {
      // Dies with the benchmark, and stops by itself in any case.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(0);
      alarm(kNeighbourLifetimeS);
      for (;;)
        asm volatile("" ::: "memory");
    }
    neighbours_.push_back(pid);
  }
}

void condition_scope::start_quota() {
  if (geteuid() != 0) {
    why_ = "a CPU quota needs root (cgroups)";
    return;
  }
  const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  const long quota = std::max(1000L, static_cast<long>(cpus) * kPeriodUs / 2);
  // The hierarchy with the cpu controller: v2's unified one, else v1's; and
  // the files that set the quota there.
  std::string root;
  std::vector<std::pair<std::string, std::string>> settings;
  std::ifstream v2("/sys/fs/cgroup/cgroup.controllers");
  std::string controllers((std::istreambuf_iterator<char>(v2)), std::istreambuf_iterator<char>());
  if (controllers.find("cpu") != std::string::npos) {
    root = "/sys/fs/cgroup";
    home_ = root + own_cgroup("");
    if (!write_file(root + "/cgroup.subtree_control", "+cpu", &why_)) return;
    settings = {{"cpu.max", std::to_string(quota) + " " + std::to_string(kPeriodUs)}};
  } else if (exists("/sys/fs/cgroup/cpu/cpu.cfs_quota_us")) {
    root = "/sys/fs/cgroup/cpu";
    home_ = root + own_cgroup("cpu");
    settings = {{"cpu.cfs_period_us", std::to_string(kPeriodUs)},
                {"cpu.cfs_quota_us", std::to_string(quota)}};
  } else {
    why_ = "no cgroup with the cpu controller (v2 cpu.max or v1 cpu.cfs_quota_us)";
    return;
  }
  group_ = root + "/onspin-bench-" + std::to_string(getpid());
  if (mkdir(group_.c_str(), 0755) != 0 && errno != EEXIST) {
    why_ = "mkdir " + group_ + ": " + std::strerror(errno);
    group_.clear();
    home_.clear();
    return;
  }
  for (const auto &[file, value] : settings)
    if (!write_file(group_ + "/" + file, value, &why_)) {
      home_.clear();
      return;
    }
  // The whole process (every thread, then and later) moves into the group.
  if (!write_file(group_ + "/cgroup.procs", std::to_string(getpid()), &why_)) home_.clear();
}

condition_scope::~condition_scope() {
  for (pid_t pid : neighbours_)
    kill(pid, SIGKILL);
  for (pid_t pid : neighbours_)
    while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
  if (!home_.empty()) write_file(home_ + "/cgroup.procs", std::to_string(getpid()), nullptr);
  if (!group_.empty())
    for (int i = 0; i < 50 && rmdir(group_.c_str()) != 0 && errno == EBUSY; ++i)
      usleep(20000);
}

} // namespace bench
