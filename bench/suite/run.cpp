#include "run.hpp"

#include "busy_work.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <sys/resource.h>
#include <thread>

namespace bench {
namespace {

using clk = std::chrono::steady_clock;

inline uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

struct usage {
  double cpu;
  uint64_t switches;
};

usage process_usage() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return {ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
              (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6,
          static_cast<uint64_t>(ru.ru_nvcsw + ru.ru_nivcsw)};
}

// Every 8th acquisition's lock() is timed: often enough for p99.9 within a
// run, rarely enough that the clock reads do not shape the result.
constexpr unsigned kSampleEvery = 8;
constexpr size_t kMaxSamplesPerThread = 1 << 16;

} // namespace

run_result run_once(const peer &p, const scenario &s, double seconds, double turns_per_ns) {
  auto lock = p.make();
  const long inside = static_cast<long>(s.inside_ns * turns_per_ns);
  const long outside = static_cast<long>(s.outside_ns * turns_per_ns);
  const long long_section = static_cast<long>(50000 * turns_per_ns);
  std::atomic<bool> stop{false}, go{false};
  std::atomic<int> holders{0};
  std::atomic<bool> violated{false};
  uint64_t shared_count = 0; // written only under the lock
  run_result r;
  r.per_thread.assign(s.threads, 0);
  std::vector<std::vector<uint32_t>> samples(s.threads);

  std::vector<std::thread> threads;
  for (int t = 0; t < s.threads; ++t)
    threads.emplace_back([&, t] {
      auto &mine = samples[t];
      mine.reserve(kMaxSamplesPerThread);
      uint64_t rng = 0x9e3779b97f4a7c15ull * (t + 1), n = 0;
      while (!go.load(std::memory_order_acquire))
        std::this_thread::yield();
      while (!stop.load(std::memory_order_relaxed)) {
        const bool timed = n % kSampleEvery == 0 && mine.size() < kMaxSamplesPerThread;
        const uint64_t t0 = timed ? now_ns() : 0;
        lock->lock();
        if (timed) mine.push_back(static_cast<uint32_t>(std::min<uint64_t>(now_ns() - t0, ~0u)));
        if (holders.fetch_add(1, std::memory_order_relaxed) != 0) violated = true;
        ++shared_count;
        rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
        switch (s.kind) {
        case pattern::multimodal:
          work(rng % 50 == 0 ? long_section : inside);
          break;
        case pattern::owner_sleeps:
          work(inside);
          if (n % 4 == 0) {
            timespec ts{0, 50000};
            nanosleep(&ts, nullptr);
          }
          break;
        default:
          work(inside);
        }
        holders.fetch_sub(1, std::memory_order_relaxed);
        lock->unlock();
        work(outside);
        ++n;
      }
      r.per_thread[t] = n;
    });

  onspin_stats before{}, after{};
  onspin_stats_get(&before);
  const usage u0 = process_usage();
  const auto t0 = clk::now();
  go.store(true, std::memory_order_release);
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto &t : threads)
    t.join();
  r.seconds = std::chrono::duration<double>(clk::now() - t0).count();
  const usage u1 = process_usage();
  onspin_stats_get(&after);

  for (uint64_t n : r.per_thread)
    r.acquisitions += n;
  r.exclusion_held = !violated && shared_count == r.acquisitions;
  r.cpu_seconds = u1.cpu - u0.cpu;
  r.context_switches = u1.switches - u0.switches;
  auto *b = reinterpret_cast<const uint64_t *>(&before);
  auto *a = reinterpret_cast<const uint64_t *>(&after);
  auto *d = reinterpret_cast<uint64_t *>(&r.onspin);
  for (size_t i = 0; i < sizeof(onspin_stats) / sizeof(uint64_t); ++i)
    d[i] = a[i] - b[i];
  for (auto &v : samples)
    r.latency_ns.insert(r.latency_ns.end(), v.begin(), v.end());
  std::sort(r.latency_ns.begin(), r.latency_ns.end());
  return r;
}

} // namespace bench
