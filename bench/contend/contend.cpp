// contend: N threads take one lock in a loop (a critical section of C ns,
// then O ns of work outside), for S seconds, and report what it cost. The
// oracle is the process's (ONSPIN_ORACLE), so comparing oracles means
// running this once per oracle; the bpf tests and benchmarks do that.
//
//   contend --lock onspin|pthread|pi --threads N --inside NS --outside NS --seconds S
//           [--sleep-inside NS] [--long-ns NS] [--noisy P] [--stall-ns NS]
//
// --lock pi is a priority-inheritance futex mutex (bench/common/pi_mutex.hpp),
// whose waiters the kernel queues and spins for.
// --sleep-inside makes every 4th critical section sleep for NS (nanosleep):
// an owner off its CPU while holding the lock, as in sysbench's threads
// test. That is where owner-aware spinning should differ from a budget.
// --long-ns makes every 50th critical section (2%) last NS instead: a
// multi-modal section length.
// --noisy runs P busy-looping processes beside the threads for the run:
// noisy neighbours, which preempt lock holders.
// --stall-ns counts critical sections that lasted longer than NS from the
// acquisition to the release: with NS well above the section's own length,
// holders that lost their CPU inside the section (two clock reads a section).
//
// Prints one line of key=value pairs: acquisitions per second, CPU time
// (user+sys), system calls (onspin and pi), context switches and onspin's
// spin decisions per acquisition, onspin's slow-path counters per contended
// acquisition, its yields to preempted owners and time slice extension
// grants per 1000 acquisitions, and the oracle. Exits 2 if mutual exclusion
// was violated.
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <onspin/onspin.h>
#include <pthread.h>
#include <string>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "busy_work.hpp"
#include "pi_mutex.hpp"

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

long context_switches() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_nvcsw + ru.ru_nivcsw;
}

int usage(const char *argv0) {
  std::fprintf(stderr,
               "usage: %s --lock onspin|pthread|pi --threads N --inside NS --outside NS "
               "--seconds S [--sleep-inside NS] [--long-ns NS] [--noisy P] [--stall-ns NS]\n",
               argv0);
  return 1;
}

// Starts `n` busy-looping processes that die with their parent, and at the
// latest after `limit_s` seconds.
std::vector<pid_t> start_noise(long n, unsigned limit_s) {
  std::vector<pid_t> kids;
  for (long i = 0; i < n; ++i) {
    const pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      alarm(limit_s);
      volatile unsigned long spins = 0;
      for (;;)
        spins = spins + 1;
    }
    if (pid > 0) kids.push_back(pid);
  }
  return kids;
}

void stop_noise(const std::vector<pid_t> &kids) {
  for (pid_t pid : kids)
    kill(pid, SIGKILL);
  for (pid_t pid : kids)
    waitpid(pid, nullptr, 0);
}

} // namespace

int main(int argc, char **argv) {
  std::string lock = "onspin";
  long threads = 4, inside = 1000, outside = 1000, sleep_inside = 0, long_ns = 0, noisy = 0,
       stall_ns = 0;
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
    else if (k == "--long-ns")
      long_ns = static_cast<long>(v);
    else if (k == "--noisy")
      noisy = static_cast<long>(v);
    else if (k == "--stall-ns")
      stall_ns = static_cast<long>(v);
    else
      return usage(argv[0]);
  }
  if (argc % 2 == 0 || threads < 1 || seconds <= 0 ||
      (lock != "onspin" && lock != "pthread" && lock != "pi"))
    return usage(argv[0]);

  const double tpn = turns_per_ns();
  const long in_turns = static_cast<long>(inside * tpn),
             out_turns = static_cast<long>(outside * tpn),
             long_turns = static_cast<long>(long_ns * tpn);
  onspin_mutex_t om = ONSPIN_MUTEX_INITIALIZER;
  pthread_mutex_t pm = PTHREAD_MUTEX_INITIALIZER;
  bench::pi_mutex pi;
  const bool use_onspin = lock == "onspin", use_pi = lock == "pi";
  if (use_onspin) onspin_oracle_name(); // choose (and load) the oracle before timing
  std::atomic<bool> stop{false};
  std::atomic<long> total{0};
  std::atomic<long> stalls{0};
  std::atomic<int> inside_now{0};
  std::atomic<bool> violated{false};
  const std::vector<pid_t> noise = start_noise(noisy, static_cast<unsigned>(seconds) + 60);
  onspin_stats_reset();
  const double cpu0 = cpu_seconds();
  const long switches0 = context_switches();
  const auto t0 = clk::now();
  // Direct calls, not an interface: the lock's own cost is what is measured.
  const auto lock_it = [&](uint32_t tid) {
    if (use_onspin)
      onspin_mutex_lock(&om);
    else if (use_pi)
      pi.lock(tid);
    else
      pthread_mutex_lock(&pm);
  };
  const auto unlock_it = [&](uint32_t tid) {
    if (use_onspin)
      onspin_mutex_unlock(&om);
    else if (use_pi)
      pi.unlock(tid);
    else
      pthread_mutex_unlock(&pm);
  };
  std::vector<std::thread> ts;
  for (long t = 0; t < threads; ++t)
    ts.emplace_back([&] {
      const auto tid = static_cast<uint32_t>(gettid());
      long n = 0, stalled = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        lock_it(tid);
        const auto held_at = stall_ns > 0 ? clk::now() : clk::time_point{};
        if (inside_now.fetch_add(1, std::memory_order_relaxed) != 0) violated = true;
        work(long_ns > 0 && n % 50 == 0 ? long_turns : in_turns);
        if (sleep_inside > 0 && n % 4 == 0) {
          timespec ts{0, sleep_inside};
          nanosleep(&ts, nullptr);
        }
        inside_now.fetch_sub(1, std::memory_order_relaxed);
        if (stall_ns > 0 && clk::now() - held_at > std::chrono::nanoseconds(stall_ns)) ++stalled;
        unlock_it(tid);
        work(out_turns);
        ++n;
      }
      total += n;
      stalls += stalled;
    });
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto &t : ts)
    t.join();
  const double wall = std::chrono::duration<double>(clk::now() - t0).count();
  const double cpu = cpu_seconds() - cpu0;
  const long switches = context_switches() - switches0;
  stop_noise(noise);
  if (violated) {
    std::fprintf(stderr, "contend: mutual exclusion violated\n");
    return 2;
  }
  onspin_stats s{};
  onspin_stats_get(&s);
  const double n = static_cast<double>(total.load());
  const double c = s.contended ? static_cast<double>(s.contended) : 1;
  // System calls: onspin counts its futex calls; the pi mutex counts its
  // own; glibc's are not visible ("-").
  char syscalls[32] = "-";
  if (use_onspin)
    std::snprintf(syscalls, sizeof syscalls, "%.4f",
                  (s.futex_waits + s.futex_wakes + s.slice_grants) / n);
  else if (use_pi)
    std::snprintf(syscalls, sizeof syscalls, "%.4f", pi.syscalls() / n);
  std::printf("lock=%s oracle=%s threads=%ld inside_ns=%ld outside_ns=%ld sleep_inside_ns=%ld "
              "long_ns=%ld acq_per_s=%.0f "
              "cpu_ns_per_acq=%.1f contended=%llu spin_ns_per_contended=%.1f "
              "owner_off_per_contended=%.4f futex_waits_per_acq=%.4f syscalls_per_acq=%s "
              "ctx_switches_per_acq=%.4f contended_per_acq=%.4f spin_acquired_per_acq=%.4f "
              "owner_off_per_acq=%.4f budget_stop_per_acq=%.4f noisy=%ld "
              "preempted_yields_per_kacq=%.2f slice_grants_per_kacq=%.2f "
              "slice_yields_per_kacq=%.2f stall_ns=%ld holder_stalls_per_kacq=%.2f\n",
              lock.c_str(), use_onspin ? onspin_oracle_name() : "-", threads, inside, outside,
              sleep_inside, long_ns, n / wall, cpu * 1e9 / n, (unsigned long long)s.contended,
              s.spin_ns / c, s.spin_stop_owner_off / c, s.futex_waits / n, syscalls, switches / n,
              s.contended / n, s.spin_acquired / n, s.spin_stop_owner_off / n,
              s.spin_stop_budget / n, noisy, s.yields * 1e3 / n, s.slice_grants * 1e3 / n,
              s.slice_yields * 1e3 / n, stall_ns, stalls.load() * 1e3 / n);
  return 0;
}
