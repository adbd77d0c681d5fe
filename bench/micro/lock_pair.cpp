// Side-by-side micro-benchmark: the cost of an uncontended lock+unlock pair,
// and throughput with two threads lightly contending, for onspin, a bare CAS
// lock (the floor), glibc's pthread_mutex and std::mutex. Repetitions are
// interleaved (A B C D A B C D ...) so that machine noise hits every lock
// alike; medians and the min-max spread are reported, with ratios measured
// within this one run.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <mutex>
#include <onspin/mutex.hpp>
#include <pthread.h>
#include <string>
#include <thread>
#include <vector>

#include "busy_work.hpp"

namespace {

using bench::turns_per_ns;
using bench::work;
using clk = std::chrono::steady_clock;

// The floor: one CAS to lock, one store to unlock, no waiting logic at all
// (it spins forever if contended, so it is used only uncontended).
struct bare_cas {
  std::atomic<uint32_t> word{0};
  void lock() {
    uint32_t expected = 0;
    while (!word.compare_exchange_strong(expected, 1, std::memory_order_acquire))
      expected = 0;
  }
  void unlock() {
    uint32_t expected = 1;
    word.compare_exchange_strong(expected, 0, std::memory_order_release);
  }
};

// Test-and-test-and-set spinlock with pause: what pure spinning achieves.
struct ttas_spinlock {
  std::atomic<uint32_t> word{0};
  void lock() {
    for (;;) {
      uint32_t expected = 0;
      if (word.compare_exchange_weak(expected, 1, std::memory_order_acquire)) return;
      while (word.load(std::memory_order_relaxed) != 0)
        __builtin_ia32_pause();
    }
  }
  void unlock() { word.store(0, std::memory_order_release); }
};

// glibc's adaptive mutex: spins up to a learned count, then sleeps.
struct pthread_adaptive {
  pthread_mutex_t m = PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP;
  void lock() { pthread_mutex_lock(&m); }
  void unlock() { pthread_mutex_unlock(&m); }
};

struct pthread_default {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  void lock() { pthread_mutex_lock(&m); }
  void unlock() { pthread_mutex_unlock(&m); }
};

template <class Lock> double ns_per_pair(long iters) {
  Lock l;
  auto t0 = clk::now();
  for (long i = 0; i < iters; ++i) {
    l.lock();
    asm volatile("" ::: "memory");
    l.unlock();
  }
  return std::chrono::duration<double, std::nano>(clk::now() - t0).count() / iters;
}

struct scenario {
  const char *name;
  int inside_ns, outside_ns;
};

struct lock_ops {
  std::string name;
  std::function<double(long)> uncontended;           // ns per pair
  std::function<double(double, scenario)> contended; // acquisitions per second
  bool contends = true;
};

// Two threads: lock, a critical section, unlock, some work outside.
template <class Lock> double ops_per_sec(double seconds, scenario sc) {
  const long inside = static_cast<long>(sc.inside_ns * turns_per_ns());
  const long outside = static_cast<long>(sc.outside_ns * turns_per_ns());
  Lock l;
  std::atomic<bool> stop{false};
  std::atomic<long> total{0};
  uint64_t shared = 0;
  auto body = [&] {
    long n = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      l.lock();
      ++shared;
      work(inside);
      l.unlock();
      work(outside);
      ++n;
    }
    total += n;
  };
  std::thread a(body), b(body);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  a.join();
  b.join();
  if (shared != static_cast<uint64_t>(total.load())) {
    std::fprintf(stderr, "mutual exclusion violated\n");
    std::exit(2);
  }
  return total.load() / seconds;
}

struct summary {
  double median, lo, hi;
};

summary summarise(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

} // namespace

int main(int argc, char **argv) {
  int reps = 7;
  long iters = 5000000;
  double seconds = 0.3;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) {
      reps = 3;
      iters = 1000000;
      seconds = 0.1;
    } else {
      std::fprintf(stderr, "usage: %s [--quick]\n", argv[0]);
      return 1;
    }
  }
  const std::vector<scenario> scenarios = {{"2 threads, 10 ns in / 10 ns out", 10, 10},
                                           {"2 threads, 100 ns in / 100 ns out", 100, 100}};
  std::vector<lock_ops> locks = {
      {"onspin::mutex", ns_per_pair<onspin::mutex>, ops_per_sec<onspin::mutex>},
      {"bare CAS pair", ns_per_pair<bare_cas>, nullptr, false},
      {"pthread_mutex", ns_per_pair<pthread_default>, ops_per_sec<pthread_default>},
      {"pthread adaptive", ns_per_pair<pthread_adaptive>, ops_per_sec<pthread_adaptive>},
      {"TTAS spinlock", ns_per_pair<ttas_spinlock>, ops_per_sec<ttas_spinlock>},
      {"std::mutex", ns_per_pair<std::mutex>, ops_per_sec<std::mutex>},
  };
  turns_per_ns();
  // samples[lock][0] is the pair cost; samples[lock][1 + s] scenario s.
  std::vector<std::vector<std::vector<double>>> samples(
      locks.size(), std::vector<std::vector<double>>(1 + scenarios.size()));
  for (int r = 0; r < reps; ++r)
    for (size_t i = 0; i < locks.size(); ++i) {
      samples[i][0].push_back(locks[i].uncontended(iters));
      for (size_t sc = 0; locks[i].contends && sc < scenarios.size(); ++sc)
        samples[i][1 + sc].push_back(locks[i].contended(seconds, scenarios[sc]) / 1e6);
    }

  std::printf("onspin micro-benchmark: %d interleaved repetitions; median [min-max]\n", reps);
  std::printf("oracle: %s (%s)\n", onspin_oracle_name(), onspin_oracle_reason());
  std::printf("onspin/x: onspin's advantage over lock x from the medians (>1: onspin better)\n");
  auto table = [&](const char *title, const char *unit, size_t col, bool lower_is_better) {
    std::printf("\n%s (%s)\n", title, unit);
    const double mine = summarise(samples[0][col]).median;
    for (size_t i = 0; i < locks.size(); ++i) {
      if (samples[i][col].empty()) continue;
      summary v = summarise(samples[i][col]);
      double adv = lower_is_better ? v.median / mine : mine / v.median;
      std::printf("  %-16s %8.2f [%.2f-%.2f]", locks[i].name.c_str(), v.median, v.lo, v.hi);
      if (i == 0)
        std::printf("\n");
      else
        std::printf("   onspin/x %.2f\n", adv);
    }
  };
  table("uncontended lock+unlock pair", "ns per pair", 0, true);
  for (size_t sc = 0; sc < scenarios.size(); ++sc)
    table(scenarios[sc].name, "million acquisitions/s", 1 + sc, false);
  return 0;
}
