// contend: N threads take one lock in a loop (a critical section of C ns,
// then O ns of work outside), for S seconds, and report what it cost. The
// oracle is the process's (ONSPIN_ORACLE), so comparing oracles means
// running this once per oracle; the bpf tests and benchmarks do that.
//
//   contend --lock onspin|pthread --threads N --inside NS --outside NS --seconds S
//           [--sleep-inside NS]
//
// --sleep-inside makes every 4th critical section sleep for NS (nanosleep):
// an owner off its CPU while holding the lock, as in sysbench's threads
// test. That is where owner-aware spinning should differ from a budget.
//
// Prints one line of key=value pairs: acquisitions per second, CPU time
// (user+sys) per acquisition, onspin's slow-path counters per contended
// acquisition, and the oracle. Exits 2 if mutual exclusion was violated.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <onspin/onspin.h>
#include <pthread.h>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <vector>

#include "busy_work.hpp"

namespace {

using bench::turns_per_ns;
using bench::work;
using clk = std::chrono::steady_clock;

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int usage(const char *argv0) {
  std::fprintf(stderr,
               "usage: %s --lock onspin|pthread --threads N --inside NS --outside NS "
               "--seconds S [--sleep-inside NS]\n",
               argv0);
  return 1;
}

} // namespace

int main(int argc, char **argv) {
  std::string lock = "onspin";
  long threads = 4, inside = 1000, outside = 1000, sleep_inside = 0;
  double seconds = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    char *end = nullptr;
    if (k == "--lock") {
      lock = argv[i + 1];
      continue;
    }
    double v = std::strtod(argv[i + 1], &end);
    if (*end != '\0' || v < 0) return usage(argv[0]);
    if (k == "--threads")
      threads = static_cast<long>(v);
    else if (k == "--inside")
      inside = static_cast<long>(v);
    else if (k == "--outside")
      outside = static_cast<long>(v);
    else if (k == "--seconds")
      seconds = v;
    else if (k == "--sleep-inside")
      sleep_inside = static_cast<long>(v);
    else
      return usage(argv[0]);
  }
  if (argc % 2 == 0 || threads < 1 || seconds <= 0 || (lock != "onspin" && lock != "pthread"))
    return usage(argv[0]);

  const double tpn = turns_per_ns();
  const long in_turns = static_cast<long>(inside * tpn),
             out_turns = static_cast<long>(outside * tpn);
  onspin_mutex_t om = ONSPIN_MUTEX_INITIALIZER;
  pthread_mutex_t pm = PTHREAD_MUTEX_INITIALIZER;
  const bool use_onspin = lock == "onspin";
  if (use_onspin) onspin_oracle_name(); // choose (and load) the oracle before timing
  std::atomic<bool> stop{false};
  std::atomic<long> total{0};
  std::atomic<int> inside_now{0};
  std::atomic<bool> violated{false};
  onspin_stats_reset();
  const double cpu0 = cpu_seconds();
  const auto t0 = clk::now();
  std::vector<std::thread> ts;
  for (long t = 0; t < threads; ++t)
    ts.emplace_back([&] {
      long n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        use_onspin ? (void)onspin_mutex_lock(&om) : (void)pthread_mutex_lock(&pm);
        if (inside_now.fetch_add(1, std::memory_order_relaxed) != 0) violated = true;
        work(in_turns);
        if (sleep_inside > 0 && n % 4 == 0) {
          timespec ts{0, sleep_inside};
          nanosleep(&ts, nullptr);
        }
        inside_now.fetch_sub(1, std::memory_order_relaxed);
        use_onspin ? (void)onspin_mutex_unlock(&om) : (void)pthread_mutex_unlock(&pm);
        work(out_turns);
        ++n;
      }
      total += n;
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto &t : ts)
    t.join();
  const double wall = std::chrono::duration<double>(clk::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  if (violated) {
    std::fprintf(stderr, "contend: mutual exclusion violated\n");
    return 2;
  }
  onspin_stats s{};
  onspin_stats_get(&s);
  const double n = static_cast<double>(total.load());
  const double c = s.contended ? static_cast<double>(s.contended) : 1;
  std::printf("lock=%s oracle=%s threads=%ld inside_ns=%ld outside_ns=%ld sleep_inside_ns=%ld "
              "acq_per_s=%.0f "
              "cpu_ns_per_acq=%.1f contended=%llu spin_ns_per_contended=%.1f "
              "owner_off_per_contended=%.4f futex_waits_per_acq=%.4f\n",
              lock.c_str(), use_onspin ? onspin_oracle_name() : "-", threads, inside, outside,
              sleep_inside, n / wall, cpu * 1e9 / n, (unsigned long long)s.contended, s.spin_ns / c,
              s.spin_stop_owner_off / c, s.futex_waits / n);
  return 0;
}
