// onspin lock holders and the kernel's rseq time slice extension, end to
// end: a thread that holds an onspin mutex and is interrupted with a
// reschedule pending keeps its CPU, and its last unlock gives the CPU back
// (the statistics count both). On the host (no extension) nothing is
// enabled; in the guest (kernel/patches/0003) ONSPIN_EXPECT_SLICE_EXT=present
// makes the grants a check.
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <gtest/gtest.h>
#include <onspin/onspin.h>
#include <pthread.h>
#include <sched.h>
#include <thread>
#include <time.h>

#include "oracle/rseq/rseq_area.hpp"
#include "slice/slice_ext.hpp"

namespace {

using namespace onspin::detail;

bool kernel_offers() {
  const rseq::area *self = rseq::self_area();
  return self != nullptr &&
         (__atomic_load_n(&self->flags, __ATOMIC_RELAXED) & rseq::kSliceAvailable) != 0;
}

void pin(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  ASSERT_EQ(pthread_setaffinity_np(pthread_self(), sizeof set, &set), 0);
}

uint64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

TEST(SliceExtHolder, ThreadsTurnItOnExactlyWhenTheKernelOffersIt) {
  const char *setting = std::getenv("ONSPIN_SLICE_EXT");
  const bool allowed = setting == nullptr || std::strcmp(setting, "off") != 0;
  const slice::state s = slice::thread_state();
  std::printf("kernel offers the extension: %s; this thread: %s\n", kernel_offers() ? "yes" : "no",
              slice::describe(s));
  EXPECT_EQ(s == slice::state::on, kernel_offers() && allowed);
  EXPECT_EQ(slice::tls_holder.request != nullptr, s == slice::state::on);
  if (const char *expect = std::getenv("ONSPIN_EXPECT_SLICE_EXT")) {
    EXPECT_EQ(kernel_offers(), std::strcmp(expect, "present") == 0);
  }
  // A new thread turns it on for itself at its first lock.
  slice::state other = slice::state::refused;
  std::thread([&] { other = slice::thread_state(); }).join();
  EXPECT_EQ(other, s);
}

// The grant's length (debugfs, root only), set for one test and restored:
// under TCG a busy host can stop the guest's vCPU for longer than the 5 us
// default, and a grant that expires before the holder's unlock is not seen.
class grant_length {
public:
  explicit grant_length(const char *ns) {
    if (FILE *f = std::fopen(kFile, "r")) {
      if (std::fgets(old_, sizeof old_, f) == nullptr) old_[0] = '\0';
      std::fclose(f);
    }
    if (old_[0] != '\0') write(ns);
  }
  ~grant_length() {
    if (old_[0] != '\0') write(old_);
  }

private:
  static constexpr const char *kFile = "/sys/kernel/debug/rseq/slice_ext_nsec";
  static void write(const char *value) {
    if (FILE *f = std::fopen(kFile, "w")) {
      std::fputs(value, f);
      std::fclose(f);
    }
  }
  char old_[32] = {0};
};

// A holder spins inside its critical section on CPU 1, beside a SCHED_FIFO
// thread that a timer wakes every 2 ms: each wake-up leaves a reschedule
// pending for the holder, which the kernel turns into a grant.
TEST(SliceExtHolder, AnInterruptedHolderIsGrantedAndYieldsAtItsLastUnlock) {
  const char *expect = std::getenv("ONSPIN_EXPECT_SLICE_EXT");
  if (expect == nullptr || std::strcmp(expect, "present") != 0)
    GTEST_SKIP() << "ONSPIN_EXPECT_SLICE_EXT=present not set (the guest sets it)";
  const grant_length longest("50000"); // the most the kernel allows
  // Up to three rounds of 0.5 s: in some full guest runs the holder got half
  // its usual sections and no grant at all (cause not found yet; see the
  // printed state), and a later round tells a lasting fault from a passing one.
  uint64_t grants = 0, yields = 0;
  for (int round = 1; round <= 3 && grants == 0; ++round) {
    std::atomic<bool> stop{false};
    std::atomic<unsigned> wakes{0};
    std::thread waker([&] {
      pin(1);
      sched_param p{};
      p.sched_priority = 10;
      ASSERT_EQ(pthread_setschedparam(pthread_self(), SCHED_FIFO, &p), 0);
      const timespec nap{0, 2000000};
      while (!stop.load()) {
        clock_nanosleep(CLOCK_MONOTONIC, 0, &nap, nullptr);
        wakes.fetch_add(1);
      }
    });
    onspin_stats before{}, after{};
    onspin_stats_get(&before);
    unsigned sections = 0;
    int cpu = -1;
    slice::state state = slice::state::refused;
    std::thread holder([&] {
      pin(1);
      onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
      const uint64_t end = now_ns() + 500000000u;
      while (now_ns() < end) {
        // 2 us holding the lock (inside any grant), 2 us without it.
        onspin_mutex_lock(&m);
        const uint64_t section_end = now_ns() + 2000u;
        while (now_ns() < section_end) {
        }
        onspin_mutex_unlock(&m);
        ++sections;
        const uint64_t gap_end = now_ns() + 2000u;
        while (now_ns() < gap_end) {
        }
      }
      cpu = sched_getcpu();
      state = slice::thread_state();
    });
    holder.join();
    onspin_stats_get(&after);
    stop = true;
    waker.join();
    grants = after.slice_grants - before.slice_grants;
    yields = after.slice_yields - before.slice_yields;
    std::printf("round %d: %u sections of 2 us on CPU %d (holder: %s), %u wake-ups beside them: "
                "%llu grants found at the last unlock, %llu yielded inside the grant\n",
                round, sections, cpu, slice::describe(state), wakes.load(),
                static_cast<unsigned long long>(grants), static_cast<unsigned long long>(yields));
    EXPECT_EQ(state, slice::state::on) << "the holder thread did not turn the extension on";
  }
  // About half the wake-ups land inside a section.
  EXPECT_GT(grants, 0u) << "no holder was granted an extension in three rounds";
  EXPECT_LE(yields, grants);
}

} // namespace
