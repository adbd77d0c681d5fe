#include "cli/status.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <grp.h>
#include <onspin/onspin.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>
#include <vector>

#ifdef ONSPIN_HAVE_BPF
#include "oracle/bpf/bpf_oracle.hpp"
#endif
#include "config/config.hpp"
#include "oracle/oracle.hpp"
#include "platform/clock.hpp"
#include "platform/thread_self.hpp"
#include "slice/slice_ext.hpp"

namespace onspin::cli {
using onspin::detail::current_oracle;
using onspin::detail::now_ns;
using onspin::detail::oracle_kind;

namespace {

#ifdef ONSPIN_HAVE_BPF
namespace bpf = onspin::detail::bpf;

void print_pin() {
  struct stat st {};
  if (stat(bpf::kPinMap, &st) != 0) {
    std::printf("pin:        none at %s (install with: onspin oracle install)\n", bpf::kPinMap);
    return;
  }
  const struct group *g = getgrgid(st.st_gid);
  std::printf("pin:        %s, group %s, mode %04o\n", bpf::kPinMap, g ? g->gr_name : "?",
              st.st_mode & 07777);
}
#endif

struct self_check {
  // Fraction of reads of a busy thread that said it runs: ON, or preempted
  // (on a loaded machine a busy thread waits for a CPU at times).
  double busy_share = 0;
  double busy_on_share = 0;   // ... that said ON
  uint64_t off_median_ns = 0; // from "about to sleep" to the first OFF read
  uint64_t off_max_ns = 0;
  size_t off_samples = 0; // sleeps this thread saw (of 20)
  bool ok = false;
};

// Fewer sleeps seen than this, and the check cannot tell (a busy machine).
constexpr size_t kMinOffSamples = 5;

// A helper thread alternates busy and asleep; this thread asks the oracle
// about it, as a waiter would.
self_check run_self_check(const onspin::detail::oracle &o) {
  std::atomic<uint32_t> tid{0};
  std::atomic<int> phase{0}; // 1: busy, 2: about to sleep, 3: stop
  std::atomic<uint64_t> sleep_at{0};
  std::thread worker([&] {
    tid = onspin::detail::self_key(); // its lock key (and, for rseq, its registration)
    for (;;) {
      int p = phase.load();
      if (p == 3) return;
      if (p == 2) {
        sleep_at = now_ns();
        std::this_thread::sleep_for(std::chrono::milliseconds(3));
        phase.compare_exchange_strong(p, 1);
      }
    }
  });
  while (tid.load() == 0)
    std::this_thread::yield();
  const uint32_t key = tid.load();
  self_check r;
  using onspin::detail::owner_state;
  auto read = [&] { return onspin::detail::owner_on_cpu(o, o.kind.load(), key); };
  uint64_t on = 0, runnable = 0, reads = 0;
  std::vector<uint64_t> delays;
  for (int trial = 0; trial < 20; ++trial) {
    phase = 1;
    const uint64_t busy_until = now_ns() + 2000000; // 2 ms busy
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    while (now_ns() < busy_until) {
      const owner_state s = read();
      on += s == owner_state::on;
      runnable += s == owner_state::on || s == owner_state::preempted;
      ++reads;
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    phase = 2;
    // The worker may have slept and woken already: on a busy machine this
    // thread can lose its CPU for longer than the worker's 3 ms sleep.
    uint64_t t0;
    while ((t0 = sleep_at.exchange(0)) == 0)
      std::this_thread::yield();
    // A reading counts only if this thread kept looking while the worker
    // slept: not if the worker woke first, nor if this thread lost its CPU
    // in between (a gap between two looks). A worker read preempted has not
    // reached its sleep yet: the delay counts from the last such reading.
    uint64_t seen = 0, last = now_ns();
    bool looked = true;
    while (!seen && looked && last - t0 < 2000000) {
      const owner_state s = read();
      const uint64_t now = now_ns();
      looked = now - last < 100000;
      last = now;
      if (!looked) break;
      if (s == owner_state::off) {
        seen = now;
      } else {
        if (s == owner_state::preempted) t0 = now;
        looked = phase.load() == 2;
      }
    }
    if (looked) delays.push_back(seen ? seen - t0 : 2000000);
    while (phase.load() == 2)
      std::this_thread::yield(); // worker wakes up
  }
  phase = 3;
  worker.join();
  r.off_samples = delays.size();
  if (delays.empty()) return r;
  std::sort(delays.begin(), delays.end());
  r.busy_on_share = reads ? static_cast<double>(on) / reads : 0;
  r.busy_share = reads ? static_cast<double>(runnable) / reads : 0;
  r.off_median_ns = delays[delays.size() / 2];
  r.off_max_ns = delays.back();
  r.ok = r.busy_share >= 0.95 && r.off_samples >= kMinOffSamples && r.off_median_ns <= 100000;
  return r;
}

// Whether waiters spin past ONSPIN_SPIN_NS where nobody else wants their
// CPU, and why not. cpu_load is published, and this thread has an rseq area.
void print_long_spin(const onspin::detail::oracle &o) {
  namespace d = onspin::detail;
  bool flags_quota = false;
  for (uint32_t cpu = 0; cpu < o.cpus && !flags_quota; ++cpu)
    flags_quota = o.cpu_load[cpu * d::kCpuLoadStride + d::kCpuLoadTells] & d::kTellsQuota;
  const uint32_t cap = d::cfg().spin_cap_ns, alone = d::cfg().spin_alone_ns;
  if (!flags_quota)
    std::printf("long spin:  off (the programs do not flag CPU quotas: an older install? "
                "reinstall with: onspin oracle install)\n");
  else if (alone <= cap || cap == 0)
    std::printf("long spin:  off (ONSPIN_SPIN_ALONE_NS %u, ONSPIN_SPIN_NS %u: it needs "
                "0 < ONSPIN_SPIN_NS < ONSPIN_SPIN_ALONE_NS)\n",
                alone, cap);
  else
    std::printf("long spin:  up to %u ns (ONSPIN_SPIN_ALONE_NS) while no other task waits for "
                "the waiter's CPU and no CPU quota caps its group\n",
                alone);
}

} // namespace

int print_status() {
  const auto &o = current_oracle();
  std::printf("oracle:     %s\n", onspin_oracle_name());
  std::printf("reason:     %s\n", onspin_oracle_reason());
  const oracle_kind kind = o.kind.load();
  // bpf and rseq tell a preempted owner from a blocked one.
  if (kind == oracle_kind::bpf || kind == oracle_kind::rseq)
    std::printf("preempted:  waiters %s while the owner is preempted (ONSPIN_PREEMPTED); "
                "a blocked owner sends them to sleep\n",
                onspin::detail::action_name(onspin::detail::cfg().on_preempted));
  // bpf also publishes each CPU's run queue length.
  if (kind == oracle_kind::bpf) {
    if (o.cpu_load == nullptr)
      std::printf("crowded:    not told (the pinned install has no cpu_load map that this "
                  "process can open: an older install? reinstall with: onspin oracle install)\n");
    else if (onspin::detail::rseq::self_area() == nullptr)
      std::printf("crowded:    not told (no rseq area: a waiter cannot read its CPU number)\n");
    else
      std::printf("crowded:    waiters %s while another task waits for their CPU "
                  "(ONSPIN_CROWDED); run queue lengths of %u CPUs published\n",
                  onspin::detail::action_name(onspin::detail::cfg().on_crowded), o.cpus);
    if (o.cpu_load != nullptr && onspin::detail::rseq::self_area() != nullptr)
      print_long_spin(o);
    else
      std::printf("long spin:  off (needs the run queue lengths, as above)\n");
  }
  // The owner's side: rseq time slice extension (ONSPIN_SLICE_EXT).
  std::printf("slice ext:  %s\n",
              onspin::detail::slice::describe(onspin::detail::slice::thread_state()));
#ifdef ONSPIN_HAVE_BPF
  std::printf("pid_max:    %u\n", bpf::pid_max());
  print_pin();
  if (kind == oracle_kind::bpf)
    std::printf("map:        %u slots, %u KiB, mapped read-only\n", o.entries,
                static_cast<unsigned>(o.entries * sizeof(uint32_t) / 1024));
  else
    std::printf("map:        not in use\n");
#endif
  if (kind != oracle_kind::bpf && kind != oracle_kind::rseq) {
    std::printf("self-check: skipped (no owner-aware oracle in this process)\n");
    return 0;
  }
  // Up to three attempts: one switch that fires no event (a kernel quirk,
  // see docs/ORACLES.md) can spoil an attempt; a broken oracle fails all.
  self_check c;
  for (int attempt = 0; attempt < 3 && !c.ok; ++attempt)
    c = run_self_check(o);
  std::printf("self-check: busy thread read running in %.1f%% of reads (on its CPU in %.1f%%, "
              "else preempted); sleeping thread read OFF %.1f us (median of %zu) after it went "
              "to sleep, at most %.1f us: %s\n",
              100 * c.busy_share, 100 * c.busy_on_share, c.off_median_ns / 1e3, c.off_samples,
              c.off_max_ns / 1e3,
              c.ok ? "PASS"
                   : "FAIL (want >= 95%, and 5 or more sleeps seen at a median <= 100 us)");
  return c.ok ? 0 : 1;
}

} // namespace onspin::cli
