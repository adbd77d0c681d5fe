// The bpf oracle, end to end: its answers against threads' own busy/asleep
// flags, its effect on spinning under oversubscription, the pinned install
// used by an unprivileged group, refused forgery, and the fallback without
// privilege. Needs root (CI runs as root) and a build with the bpf oracle.
#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <gtest/gtest.h>
#include <onspin/onspin.h>
#include <sched.h>
#include <string>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "condition.hpp"
#include "config/config.hpp"
#include "oracle/oracle.hpp"
#include "platform/clock.hpp"

namespace fs = std::filesystem;
using onspin::detail::now_ns;

namespace {

struct result {
  int status;
  std::string out;
};

result run(const std::string &cmd) {
  result r{-1, ""};
  FILE *p = popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  std::array<char, 512> buf;
  while (fgets(buf.data(), buf.size(), p))
    r.out += buf.data();
  int st = pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

bool contains(const std::string &s, const std::string &needle) {
  return s.find(needle) != std::string::npos;
}

// Copies of the helpers in a directory every user can read: the build tree
// may sit where `nobody` cannot reach.
const fs::path &staged() {
  static const fs::path dir = [] {
    char tmpl[] = "/tmp/onspin-bpf-test-XXXXXX";
    fs::path d = mkdtemp(tmpl);
    for (const char *f : {ONSPIN_ORACLE_PROBE, ONSPIN_CONTEND, ONSPIN_STRESS_TESTS, ONSPIN_CLI})
      fs::copy_file(f, d / fs::path(f).filename());
    for (auto &e : fs::directory_iterator(fs::path(ONSPIN_SHARED_LIB).parent_path()))
      if (e.path().filename().string().rfind("libonspin.so", 0) == 0)
        fs::copy(e.path(), d / e.path().filename(), fs::copy_options::copy_symlinks);
    fs::permissions(d, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                           fs::perms::others_read | fs::perms::others_exec);
    return d;
  }();
  return dir;
}

std::string as_nobody(const std::string &group, const std::string &cmd) {
  return "setpriv --reuid=nobody --regid=" + group +
         " --clear-groups --inh-caps=-all --bounding-set=-all env LD_LIBRARY_PATH=" +
         staged().string() + " " + cmd;
}

std::string cli(const std::string &args) { return std::string(ONSPIN_CLI) + " " + args; }

// The same tool from the staged copy, for commands run as `nobody`.
std::string staged_cli(const std::string &args) {
  return (staged() / fs::path(ONSPIN_CLI).filename()).string() + " " + args;
}

class BpfOracle : public ::testing::Test {
protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root to load and pin eBPF programs";
  }
};

double field(const std::string &line, const std::string &key) {
  auto pos = line.find(key + "=");
  return pos == std::string::npos ? -1 : std::atof(line.c_str() + pos + key.size() + 1);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

} // namespace

// One thread per CPU alternates 1 ms busy and 1 ms asleep, publishing its
// state; while busy, each reads the other's slot and compares. Samples within
// 60 us of a change are left out: the kernel entry before a sleep counts as
// on-CPU (measured at 10-30 us), and a wake-up is seen before the flag flips.
TEST_F(BpfOracle, AgreesWithThreadsOwnBusyAsleepFlags) {
  const auto &o = onspin::detail::current_oracle();
  ASSERT_EQ(o.kind.load(), onspin::detail::oracle_kind::bpf) << onspin_oracle_reason();
  const unsigned ncpu = std::max(2u, std::thread::hardware_concurrency());
  struct worker_state {
    std::atomic<uint32_t> tid{0};
    std::atomic<bool> busy{false};
    std::atomic<uint64_t> changed_at{0};
  };
  std::vector<worker_state> w(ncpu);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> agree{0}, samples{0}, too_many_on{0};
  auto on = [&](uint32_t tid) {
    return tid < o.entries && onspin::detail::owner_on_cpu(o, onspin::detail::oracle_kind::bpf,
                                                           tid) == onspin::detail::owner_state::on;
  };
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < ncpu; ++i)
    threads.emplace_back([&, i] {
      w[i].tid = static_cast<uint32_t>(syscall(SYS_gettid));
      worker_state &other = w[(i + 1) % ncpu];
      while (!stop) {
        w[i].changed_at = now_ns();
        w[i].busy = true;
        const uint64_t until = now_ns() + 1000000;
        while (now_ns() < until) {
          const uint64_t t = now_ns();
          const bool claimed = other.busy.load();
          const uint64_t since = other.changed_at.load();
          const bool seen = on(other.tid.load());
          if (other.tid.load() != 0 && t > since + 60000) {
            ++samples;
            agree += seen == claimed;
          }
          for (int k = 0; k < 200; ++k)
            asm volatile("" ::: "memory");
        }
        w[i].changed_at = now_ns();
        w[i].busy = false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  // Meanwhile: never more threads ON than CPUs. Two scans of the map are
  // intersected, so a context switch during one scan cannot count a thread
  // on both sides of it.
  std::vector<uint8_t> first(o.entries);
  for (int scan = 0; scan < 100; ++scan) {
    for (uint32_t t = 0; t < o.entries; ++t)
      first[t] = on(t);
    unsigned both = 0;
    for (uint32_t t = 0; t < o.entries; ++t)
      both += first[t] && on(t);
    too_many_on += both > ncpu;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  stop = true;
  for (auto &t : threads)
    t.join();
  const double share = static_cast<double>(agree) / std::max<uint64_t>(1, samples);
  std::printf("agreement %.2f%% over %llu samples\n", 100 * share, (unsigned long long)samples);
  EXPECT_GT(samples.load(), 10000u);
  EXPECT_GE(share, 0.95);
  EXPECT_EQ(too_many_on.load(), 0u) << "more threads ON than CPUs";
}

// Two busy threads share one CPU, so each spends much of its time preempted;
// a third sleeps. Read from another CPU, the busy ones are ON or PREEMPTED
// and almost never blocked; the sleeper is blocked and never PREEMPTED for
// long. (The threads' own view cannot be sampled here: the oracle is the only
// observer, so the test checks the states each kind of thread can be in.)
TEST_F(BpfOracle, TellsPreemptedOwnersFromBlockedOnes) {
  using onspin::detail::owner_state;
  const auto &o = onspin::detail::current_oracle();
  ASSERT_EQ(o.kind.load(), onspin::detail::oracle_kind::bpf) << onspin_oracle_reason();
  if (std::thread::hardware_concurrency() < 2) GTEST_SKIP() << "needs 2 CPUs";
  std::atomic<bool> stop{false};
  std::atomic<uint32_t> tids[3] = {{0}, {0}, {0}};
  auto pin = [](int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return sched_setaffinity(0, sizeof set, &set) == 0;
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < 2; ++i)
    threads.emplace_back([&, i] {
      pin(0);
      tids[i] = static_cast<uint32_t>(syscall(SYS_gettid));
      while (!stop.load(std::memory_order_relaxed))
        asm volatile("" ::: "memory");
    });
  threads.emplace_back([&] {
    tids[2] = static_cast<uint32_t>(syscall(SYS_gettid));
    while (!stop.load())
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
  });
  // The reader runs on the other CPU, in a thread of its own: the test's main
  // thread keeps its affinity, which the processes later tests start inherit.
  uint64_t busy[3] = {0, 0, 0}, sleeper[3] = {0, 0, 0}; // on, preempted, off
  bool pinned = false;
  std::thread reader([&] {
    if (!(pinned = pin(1))) return;
    while (!tids[0] || !tids[1] || !tids[2])
      std::this_thread::yield();
    auto tally = [](uint64_t *n, owner_state st) {
      n[st == owner_state::on ? 0 : st == owner_state::preempted ? 1 : 2]++;
    };
    const uint64_t until = now_ns() + 400000000; // 0.4 s
    while (now_ns() < until) {
      for (int i = 0; i < 2; ++i)
        tally(busy, onspin::detail::owner_on_cpu(o, o.kind.load(), tids[i]));
      tally(sleeper, onspin::detail::owner_on_cpu(o, o.kind.load(), tids[2]));
      for (int k = 0; k < 500; ++k)
        asm volatile("" ::: "memory");
    }
  });
  reader.join();
  stop = true;
  for (auto &t : threads)
    t.join();
  ASSERT_TRUE(pinned);
  const double busy_n = busy[0] + busy[1] + busy[2], sleep_n = sleeper[0] + sleeper[1] + sleeper[2];
  std::printf("busy threads: on %.1f%% preempted %.1f%% blocked %.1f%%; sleeper: on %.1f%% "
              "preempted %.1f%% blocked %.1f%%\n",
              100 * busy[0] / busy_n, 100 * busy[1] / busy_n, 100 * busy[2] / busy_n,
              100 * sleeper[0] / sleep_n, 100 * sleeper[1] / sleep_n, 100 * sleeper[2] / sleep_n);
  // Two threads on one CPU: each waits for it about half the time.
  EXPECT_GT(busy[1] / busy_n, 0.2) << "a busy thread off its CPU should read PREEMPTED";
  EXPECT_GT(busy[0] / busy_n, 0.2);
  EXPECT_LT(busy[2] / busy_n, 0.02) << "a busy thread never sleeps";
  EXPECT_GT(sleeper[2] / sleep_n, 0.9) << "a sleeping thread should read blocked";
  EXPECT_LT(sleeper[1] / sleep_n, 0.05);
}

namespace {
bool pin_allowed(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  return sched_getaffinity(0, sizeof set, &set) == 0 && CPU_ISSET(cpu, &set);
}

bool pin_self(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  return sched_setaffinity(0, sizeof set, &set) == 0;
}

// A thread busy on `cpu` until `stop`.
std::thread busy_on(int cpu, const std::atomic<bool> &stop) {
  return std::thread([cpu, &stop] {
    pin_self(cpu);
    while (!stop.load(std::memory_order_relaxed))
      asm volatile("" ::: "memory");
  });
}

// Share of 0.2 s of reads in which the calling thread found its CPU crowded.
double crowded_share(const onspin::detail::oracle &o) {
  uint64_t crowded = 0, reads = 0;
  for (const uint64_t until = now_ns() + 200000000; now_ns() < until; ++reads)
    crowded += onspin::detail::own_cpu_crowded(o);
  return static_cast<double>(crowded) / static_cast<double>(reads);
}
} // namespace

// cpu_load: a thread alone on its CPU reads it uncrowded; with a busy thread
// beside it, crowded whenever it runs (the other waits for the CPU).
TEST_F(BpfOracle, TellsAThreadWhetherAnotherTaskWaitsForItsCpu) {
  const auto &o = onspin::detail::current_oracle();
  ASSERT_EQ(o.kind.load(), onspin::detail::oracle_kind::bpf) << onspin_oracle_reason();
  ASSERT_NE(o.cpu_load, nullptr) << "no run queue lengths published";
  ASSERT_GE(o.cpus, std::thread::hardware_concurrency());
  if (!pin_allowed(1)) GTEST_SKIP() << "needs CPU 1";
  double alone = -1, beside = -1;
  std::thread reader([&] {
    if (!pin_self(1)) return;
    alone = crowded_share(o);
    std::atomic<bool> stop{false};
    std::thread other = busy_on(1, stop);
    std::this_thread::sleep_for(std::chrono::milliseconds(20)); // it runs
    beside = crowded_share(o);
    stop = true;
    other.join();
  });
  reader.join();
  std::printf("crowded: alone %.1f%% of reads, beside a busy thread %.1f%%\n", 100 * alone,
              100 * beside);
  ASSERT_GE(alone, 0) << "could not pin to CPU 1";
  EXPECT_LT(alone, 0.2) << "nothing else should wait for CPU 1 for long";
  EXPECT_GT(beside, 0.8) << "the busy thread waits for CPU 1 whenever the reader runs";
}

namespace {
// What a waiter did about an owner that runs on CPU 0 through one section of
// section_ns, waiting on CPU 1: statistics from just before its lock call to
// just after.
onspin_stats wait_out_a_section(uint64_t section_ns, bool *alone_before = nullptr) {
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  std::atomic<int> phase{0};
  std::thread owner([&] {
    pin_self(0);
    onspin_mutex_lock(&m);
    phase = 1;
    while (phase.load() != 2) // the waiter is about to lock
      asm volatile("" ::: "memory");
    for (const uint64_t until = now_ns() + section_ns; now_ns() < until;)
      asm volatile("" ::: "memory");
    onspin_mutex_unlock(&m);
  });
  onspin_stats before{}, after{};
  std::thread waiter([&] {
    pin_self(1);
    while (phase.load() == 0)
      asm volatile("" ::: "memory");
    onspin_stats_get(&before);
    if (alone_before)
      *alone_before = onspin::detail::own_cpu_alone(onspin::detail::current_oracle(),
                                                    static_cast<uint32_t>(gettid()));
    phase = 2;
    onspin_mutex_lock(&m);
    onspin_stats_get(&after);
    onspin_mutex_unlock(&m);
  });
  waiter.join();
  owner.join();
  onspin_stats d{};
  d.contended = after.contended - before.contended;
  d.spin_alone = after.spin_alone - before.spin_alone;
  d.futex_waits = after.futex_waits - before.futex_waits;
  d.yields = after.yields - before.yields;
  return d;
}
} // namespace

// The policy end to end: a waiter whose owner runs on the other CPU spins
// while it has its CPU to itself, and yields it (ONSPIN_CROWDED=yield) while
// another task waits for it. Best of three tries each way: a kernel thread
// that wakes on a CPU, or preempts the owner, can make a waiter yield once.
TEST_F(BpfOracle, AWaiterYieldsItsCpuToATaskThatWaitsForIt) {
  const auto &o = onspin::detail::current_oracle();
  ASSERT_EQ(o.kind.load(), onspin::detail::oracle_kind::bpf) << onspin_oracle_reason();
  if (!pin_allowed(0) || !pin_allowed(1)) GTEST_SKIP() << "needs CPUs 0 and 1";
  if (onspin::detail::cfg().on_crowded != onspin::detail::waiter_action::yield)
    GTEST_SKIP() << "ONSPIN_CROWDED is not yield";
  // Yields made by a waiter that found m held by an owner running on CPU 0,
  // and whether its acquisition was contended at all.
  auto yields_waiting = [&](bool crowded, bool *contended) {
    std::atomic<bool> stop{false};
    std::thread neighbour;
    if (crowded) neighbour = busy_on(1, stop);
    const onspin_stats d = wait_out_a_section(3000000); // 3 ms, running
    stop = true;
    if (neighbour.joinable()) neighbour.join();
    *contended = d.contended != 0;
    return d.yields;
  };
  uint64_t alone = ~0ull, crowded = 0;
  bool contended_alone = true, contended_crowded = true;
  for (int attempt = 0; attempt < 3; ++attempt) {
    bool c = false;
    alone = std::min(alone, yields_waiting(false, &c));
    contended_alone = contended_alone && c;
    crowded = std::max(crowded, yields_waiting(true, &c));
    contended_crowded = contended_crowded && c;
  }
  std::printf("yields while waiting (best of 3): CPU to itself %llu, beside a busy thread %llu\n",
              static_cast<unsigned long long>(alone), static_cast<unsigned long long>(crowded));
  ASSERT_TRUE(contended_alone && contended_crowded) << "a waiter found the lock free";
  EXPECT_EQ(alone, 0u) << "nothing waited for the waiter's CPU";
  EXPECT_GT(crowded, 0u) << "the waiter kept its CPU from a task that waited for it";
}

// The calling thread's own slot: whether it carries the quota flag, as of
// its latest switch onto a CPU (a short sleep makes one).
bool own_slot_says_quota(const onspin::detail::oracle &o) {
  std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const uint32_t tid = static_cast<uint32_t>(gettid());
  return tid < o.entries && (o.slots[tid] & onspin::detail::kSlotQuota) != 0;
}

// A thread of a process under a CPU quota (cgroup bandwidth control) reads
// the flag in its slot while the process is in the group, and not before or
// after.
TEST_F(BpfOracle, MarksTheThreadsOfAGroupWithACpuQuota) {
  const auto &o = onspin::detail::current_oracle();
  ASSERT_EQ(o.kind.load(), onspin::detail::oracle_kind::bpf) << onspin_oracle_reason();
  const bool before = own_slot_says_quota(o);
  if (before) GTEST_SKIP() << "the tests already run under a CPU quota";
  bool inside = false;
  {
    const bench::condition_scope quota(bench::condition::quota);
    if (!quota.ready()) GTEST_SKIP() << quota.why();
    inside = own_slot_says_quota(o);
  }
  const bool after = own_slot_says_quota(o);
  EXPECT_TRUE(inside) << "the group's quota was not seen";
  EXPECT_FALSE(after);
}

// The long spin's tests: an owner on CPU 0, a waiter on CPU 1, the bpf
// oracle with its run queue lengths, and the default limits.
class BpfLongSpin : public BpfOracle {
protected:
  void SetUp() override {
    BpfOracle::SetUp();
    if (IsSkipped()) return;
    const auto &o = onspin::detail::current_oracle();
    ASSERT_EQ(o.kind.load(), onspin::detail::oracle_kind::bpf) << onspin_oracle_reason();
    ASSERT_NE(o.cpu_load, nullptr) << "no run queue lengths published";
    if (!pin_allowed(0) || !pin_allowed(1)) GTEST_SKIP() << "needs CPUs 0 and 1";
    const auto &c = onspin::detail::cfg();
    if (c.spin_alone_ns < 100000 || c.spin_cap_ns > 20000)
      GTEST_SKIP() << "needs ONSPIN_SPIN_NS <= 20 us and ONSPIN_SPIN_ALONE_NS >= 100 us";
  }
};

// A waiter with its CPU to itself spins through a 60 us section, past
// ONSPIN_SPIN_NS (10 us), as the kernel's mutex spins while nothing else
// wants the CPU; under a CPU quota it stops at 10 us and sleeps, since its
// spinning would spend the group's time. Best of five tries alone: a kernel
// thread that wakes on CPU 1 ends a long spin.
TEST_F(BpfLongSpin, AWaiterAloneOnItsCpuSpinsThroughALongSectionUnlessAQuotaCapsIt) {
  constexpr uint64_t kSection = 60000;
  int through = 0, contended = 0, alone = 0;
  for (int attempt = 0; attempt < 5 && through == 0; ++attempt) {
    bool alone_before = false;
    const onspin_stats d = wait_out_a_section(kSection, &alone_before);
    contended += d.contended != 0;
    alone += alone_before;
    through += d.spin_alone == 1 && d.futex_waits == 0;
  }
  if (alone == 0) GTEST_SKIP() << "CPU 1 never had its queue to the waiter (a busy machine)";
  uint64_t quota_long = 0, quota_slept = 0, quota_contended = 0;
  {
    const bench::condition_scope quota(bench::condition::quota);
    if (!quota.ready()) GTEST_SKIP() << quota.why();
    for (int attempt = 0; attempt < 3; ++attempt) {
      const onspin_stats d = wait_out_a_section(kSection);
      quota_contended += d.contended;
      quota_long += d.spin_alone;
      quota_slept += d.futex_waits != 0;
    }
  }
  std::printf("alone: spun through in %d of %d contended tries; quota: %llu long spins, "
              "%llu of 3 slept\n",
              through, contended, static_cast<unsigned long long>(quota_long),
              static_cast<unsigned long long>(quota_slept));
  ASSERT_GT(contended, 0) << "the waiter found the lock free";
  EXPECT_EQ(through, 1) << "no try spun through without a sleep";
  ASSERT_EQ(quota_contended, 3u) << "a waiter found the lock free";
  EXPECT_EQ(quota_long, 0u) << "a waiter in a quota group spun past ONSPIN_SPIN_NS";
  EXPECT_EQ(quota_slept, 3u);
}

// A timed lock's deadline ends a long spin: with its CPU to itself, a waiter
// given 40 us returns ETIMEDOUT well before the 100 us a long spin may last.
// Best of five tries: a preemption can delay any one return.
TEST_F(BpfLongSpin, ALongSpinEndsAtTheCallersDeadline) {
  constexpr uint64_t kWait = 40000;
  uint64_t best_late = ~0ull, long_spins = 0;
  for (int attempt = 0; attempt < 5; ++attempt) {
    onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
    std::atomic<int> phase{0};
    std::thread owner([&] {
      pin_self(0);
      onspin_mutex_lock(&m);
      phase = 1;
      while (phase.load() != 2) // the waiter has given up
        asm volatile("" ::: "memory");
      onspin_mutex_unlock(&m);
    });
    std::thread waiter([&] {
      pin_self(1);
      while (phase.load() == 0)
        asm volatile("" ::: "memory");
      onspin_stats before{}, after{};
      onspin_stats_get(&before);
      timespec deadline;
      clock_gettime(CLOCK_MONOTONIC, &deadline);
      const uint64_t due = now_ns() + kWait;
      deadline.tv_nsec += kWait;
      if (deadline.tv_nsec >= 1000000000) deadline.tv_sec += 1, deadline.tv_nsec -= 1000000000;
      const int r = onspin_mutex_timedlock(&m, CLOCK_MONOTONIC, &deadline);
      const uint64_t back = now_ns();
      onspin_stats_get(&after);
      phase = 2;
      EXPECT_EQ(r, ETIMEDOUT);
      long_spins += after.spin_alone - before.spin_alone;
      best_late = std::min(best_late, back > due ? back - due : 0);
    });
    waiter.join();
    owner.join();
  }
  std::printf("timed waiter: %llu long spins in 5 tries, best return %.1f us after the "
              "deadline\n",
              static_cast<unsigned long long>(long_spins), best_late / 1e3);
  EXPECT_GT(long_spins, 0u) << "no try spun past ONSPIN_SPIN_NS: the deadline was not tested";
  EXPECT_LT(best_late, 40000u) << "the long spin ran past the deadline";
}

// 4x oversubscription, owners that sleep inside a quarter of their critical
// sections: the bpf oracle's waiters stop as soon as the owner is off its
// CPU; the budget oracle's spin out their budget. Three runs each,
// interleaved, compared by medians.
TEST_F(BpfOracle, WaitersStopSpinningWhenTheOwnerIsOffCpu) {
  const std::string args = " --lock onspin --threads 8 --inside 200 --outside 200 "
                           "--sleep-inside 50000 --seconds 0.7";
  std::vector<double> spin[2], off[2];
  for (int rep = 0; rep < 3; ++rep)
    for (int k = 0; k < 2; ++k) {
      result r =
          run(std::string("env ONSPIN_ORACLE=") + (k ? "budget " : "bpf ") + ONSPIN_CONTEND + args);
      ASSERT_EQ(r.status, 0) << r.out;
      ASSERT_TRUE(contains(r.out, k ? "oracle=budget" : "oracle=bpf")) << r.out;
      spin[k].push_back(field(r.out, "spin_ns_per_contended"));
      off[k].push_back(field(r.out, "owner_off_per_contended"));
    }
  std::printf("spin ns per contended acquisition, median: bpf %.0f, budget %.0f\n", median(spin[0]),
              median(spin[1]));
  EXPECT_GT(median(off[0]), 0.1) << "bpf waiters saw the owner off its CPU";
  EXPECT_EQ(median(off[1]), 0) << "budget knows nothing of owners";
  EXPECT_LT(median(spin[0]), 0.25 * median(spin[1]));
}

TEST_F(BpfOracle, PinnedOracleServesAnUnprivilegedGroupAndCannotBeForged) {
  const std::string probe = (staged() / "oracle_probe").string();
  ASSERT_EQ(run(cli("oracle remove")).status, 0);
  result bad = run(cli("oracle install --group no-such-group-onspin"));
  EXPECT_EQ(bad.status, 1);
  EXPECT_TRUE(contains(bad.out, "no group named")) << bad.out;

  result inst = run(cli("oracle install --group nogroup"));
  ASSERT_EQ(inst.status, 0) << inst.out;
  result user = run(as_nobody("nogroup", probe));
  EXPECT_TRUE(contains(user.out, "oracle=bpf")) << user.out;
  EXPECT_TRUE(contains(user.out, "pinned map")) << user.out;
  result forge = run(as_nobody("nogroup", probe + " write"));
  EXPECT_EQ(forge.status, 0) << "a write to the pinned map succeeded:\n" << forge.out;
  result root = run(probe);
  EXPECT_TRUE(contains(root.out, "pinned map")) << "root must not load a second copy: " << root.out;
  result status = run(as_nobody("nogroup", staged_cli("status")));
  EXPECT_EQ(status.status, 0) << status.out;
  EXPECT_TRUE(contains(status.out, "PASS")) << status.out;
  EXPECT_TRUE(contains(status.out, "run queue lengths of")) << status.out;
  EXPECT_TRUE(contains(status.out, "long spin:  up to")) << status.out;
  result as_user_install = run(as_nobody("nogroup", staged_cli("oracle install")));
  EXPECT_EQ(as_user_install.status, 1);
  EXPECT_TRUE(contains(as_user_install.out, "must run as root")) << as_user_install.out;

  // A contended run of an unprivileged process, with the administrator's
  // command run 0.4 s into it: its exit status and output.
  auto contend_through = [&](const std::string &admin) {
    FILE *bg = popen(as_nobody("nogroup", (staged() / "contend").string() +
                                              " --lock onspin --threads 6 --inside 2000 "
                                              "--outside 500 --seconds 1.5 2>&1")
                         .c_str(),
                     "r");
    result r{-1, ""};
    if (bg == nullptr) return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(400));
    EXPECT_EQ(run(cli(admin)).status, 0) << admin;
    std::array<char, 1024> buf{};
    while (fgets(buf.data(), buf.size(), bg))
      r.out += buf.data();
    r.status = pclose(bg);
    return r;
  };

  // Removed while a user's process runs: it keeps working and ends normally.
  result removed = contend_through("oracle remove");
  EXPECT_EQ(removed.status, 0) << removed.out;
  EXPECT_TRUE(contains(removed.out, "acq_per_s=")) << removed.out;

  // Reinstalled while a user's process runs: the process's map is frozen
  // though a pin exists again; a spin that runs out finds the new map's id
  // and the process drops to budget.
  ASSERT_EQ(run(cli("oracle install --group nogroup")).status, 0);
  result reinstalled = contend_through("oracle install --group nogroup");
  EXPECT_EQ(reinstalled.status, 0) << reinstalled.out;
  EXPECT_TRUE(contains(reinstalled.out, "oracle=budget"))
      << "the frozen map went unnoticed: " << reinstalled.out;

  // An install from before cpu_load (its pin removed here): the oracle still
  // serves, and waiters do without run queue lengths.
  ASSERT_EQ(run(cli("oracle install --group nogroup")).status, 0);
  ASSERT_EQ(unlink("/sys/fs/bpf/onspin/cpu_load"), 0);
  result older = run(as_nobody("nogroup", staged_cli("status")));
  EXPECT_EQ(older.status, 0) << older.out;
  EXPECT_TRUE(contains(older.out, "crowded:    not told")) << older.out;
  EXPECT_TRUE(contains(older.out, "PASS")) << older.out;

  // A group the pin does not allow gets budget, and says why.
  ASSERT_EQ(run(cli("oracle install --group root")).status, 0);
  result denied = run(as_nobody("nogroup", probe));
  EXPECT_TRUE(contains(denied.out, "oracle=budget")) << denied.out;
  EXPECT_TRUE(contains(denied.out, "Permission denied")) << denied.out;
  ASSERT_EQ(run(cli("oracle remove")).status, 0);
  EXPECT_FALSE(fs::exists("/sys/fs/bpf/onspin"));
}

TEST_F(BpfOracle, WithoutPrivilegeOrPinTheLibraryFallsBackAndItsTestsPass) {
  ASSERT_EQ(run(cli("oracle remove")).status, 0);
  result probe = run(as_nobody("nogroup", (staged() / "oracle_probe").string()));
  EXPECT_TRUE(contains(probe.out, "oracle=budget")) << probe.out;
  EXPECT_TRUE(contains(probe.out, "not installed")) << probe.out;
  EXPECT_TRUE(contains(probe.out, "lacks CAP_BPF")) << probe.out;
  result suite =
      run(as_nobody("nogroup", (staged() / "stress_tests").string() + " --gtest_brief=1"));
  EXPECT_EQ(suite.status, 0) << suite.out;
  EXPECT_TRUE(contains(suite.out, "PASSED")) << suite.out;
}

// Under the rseq oracle (forced: no kernel here has both rseq sched_state and
// BPF), process-shared locks, which rseq cannot answer for, ask bpf.
TEST_F(BpfOracle, ProcessSharedLocksUnderRseqAskBpf) {
  ASSERT_EQ(run(cli("oracle remove")).status, 0);
  result probe = run(std::string("env ONSPIN_SPIN_NS=100000000 ") + ONSPIN_SHARED_UNDER_RSEQ_PROBE);
  EXPECT_EQ(probe.status, 0) << probe.out;
  EXPECT_TRUE(contains(probe.out, "oracle=rseq shared_policy=bpf")) << probe.out;
}

// Inside a child PID namespace gettid() is not the map's key: ordinary locks
// are keyed by root TIDs (from the root_tid program), robust ones keep
// gettid() for the kernel's robust list, and the oracle answers for the
// right threads. Then the whole unit suite runs in a namespace too.
TEST_F(BpfOracle, InsideAPidNamespaceTheOracleAnswersForTheRightThreads) {
  for (const char *where : {"", "unshare -p -f --mount-proc "}) {
    ASSERT_EQ(run(cli("oracle remove")).status, 0);
    result loaded = run(std::string(where) + "env ONSPIN_ORACLE=bpf " + ONSPIN_NS_PROBE);
    EXPECT_EQ(loaded.status, 0) << where << "\n" << loaded.out;
    ASSERT_EQ(run(cli("oracle install --group nogroup")).status, 0);
    result pinned = run(std::string(where) + "env ONSPIN_ORACLE=bpf " + ONSPIN_NS_PROBE);
    EXPECT_EQ(pinned.status, 0) << where << "\n" << pinned.out;
    EXPECT_TRUE(contains(pinned.out, "pinned map")) << pinned.out;
    if (*where) {
      EXPECT_TRUE(contains(pinned.out, "root_keys=1")) << pinned.out;
    }
  }
  ASSERT_EQ(run(cli("oracle remove")).status, 0);
  result unit = run(std::string("unshare -p -f --mount-proc env ONSPIN_ORACLE=bpf ") +
                    ONSPIN_UNIT_TESTS + " --gtest_brief=1");
  EXPECT_EQ(unit.status, 0) << unit.out;
}
