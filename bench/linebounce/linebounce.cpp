// linebounce: how long a cache line takes to travel between two CPUs and
// back. Two threads, pinned to the two CPUs, hand a counter back and forth by
// spinning on it, so each round trip is two transfers of one line and nothing
// else. On a VM the figure depends on where the host runs the two vCPUs (on
// cores that share a cache or not), and every contended lock's throughput
// with it (docs/BENCHMARKS.md).
//   linebounce [--cpus A,B] [--seconds S] [--window-ms W]
// Prints one line per window: seconds since the start and the mean round
// trip in ns; then the median of the windows.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <pthread.h>
#include <sched.h>
#include <thread>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

alignas(64) std::atomic<unsigned> token{0};

bool pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return pthread_setaffinity_np(pthread_self(), sizeof set, &set) == 0;
}

int usage(const char *argv0) {
  std::fprintf(stderr, "usage: %s [--cpus A,B] [--seconds S] [--window-ms W]\n", argv0);
  return 2;
}

} // namespace

int main(int argc, char **argv) {
  int cpu_a = 0, cpu_b = 1;
  double seconds = 1;
  long window_ms = 100;
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 >= argc) return usage(argv[0]);
    const char *k = argv[i], *v = argv[i + 1];
    char *end = nullptr;
    if (!std::strcmp(k, "--cpus")) {
      if (std::sscanf(v, "%d,%d", &cpu_a, &cpu_b) != 2 || cpu_a < 0 || cpu_b < 0 || cpu_a == cpu_b)
        return usage(argv[0]);
    } else if (!std::strcmp(k, "--seconds")) {
      seconds = std::strtod(v, &end);
      if (*end || !(seconds > 0 && seconds <= 3600)) return usage(argv[0]);
    } else if (!std::strcmp(k, "--window-ms")) {
      window_ms = std::strtol(v, &end, 10);
      if (*end || window_ms < 1 || window_ms > 60000) return usage(argv[0]);
    } else {
      return usage(argv[0]);
    }
  }
  std::atomic<bool> stop{false}, pinned_b{false};
  bool ok_b = false;
  // B answers: it turns every odd value even.
  std::thread b([&] {
    ok_b = pin(cpu_b);
    pinned_b = true;
    while (!stop.load(std::memory_order_relaxed)) {
      const unsigned t = token.load(std::memory_order_acquire);
      if (t & 1) token.store(t + 1, std::memory_order_release);
    }
  });
  while (!pinned_b.load())
    std::this_thread::yield();
  if (!ok_b || !pin(cpu_a)) {
    stop = true;
    b.join();
    std::fprintf(stderr, "linebounce: cannot pin to CPUs %d and %d\n", cpu_a, cpu_b);
    return 1;
  }
  std::vector<double> windows;
  const auto t0 = clock_type::now();
  const auto end = t0 + std::chrono::duration<double>(seconds);
  while (clock_type::now() < end) {
    const auto w0 = clock_type::now();
    const auto w_end = w0 + std::chrono::milliseconds(window_ms);
    long trips = 0;
    do {
      for (int i = 0; i < 256; ++i, ++trips) { // A makes it odd, waits for B
        const unsigned t = token.load(std::memory_order_relaxed) + 1;
        token.store(t, std::memory_order_release);
        while (token.load(std::memory_order_acquire) == t) {
        }
      }
    } while (clock_type::now() < w_end);
    const double ns = std::chrono::duration<double, std::nano>(clock_type::now() - w0).count();
    windows.push_back(ns / static_cast<double>(trips));
    std::printf("%.2f s  %.1f ns\n", std::chrono::duration<double>(w0 - t0).count(),
                windows.back());
  }
  stop = true;
  b.join();
  if (windows.empty()) return 1; // unreachable: the first window always runs
  std::sort(windows.begin(), windows.end());
  std::printf("round_trip_ns_median=%.1f windows=%zu\n", windows[windows.size() / 2],
              windows.size());
  return 0;
}
