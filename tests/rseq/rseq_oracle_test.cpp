// The rseq oracle: its registry, its reads of other threads' areas, and its
// exit protocol. On the patched kernel (kernel/run-tests) the states are
// real and checked. Elsewhere the registry runs in test mode: the kernel
// keeps no sched_state, so every state reads 0, but the critical section,
// the registry and the exit protocol are the same code and are checked just
// as hard (a read through an unmapped area would crash the test).
//
// ONSPIN_EXPECT_SCHED_STATE=present|absent makes the detection a check.
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <gtest/gtest.h>
#include <linux/futex.h>
#include <onspin/onspin.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "oracle/oracle.hpp"
#include "oracle/rseq/registry.hpp"
#include "platform/clock.hpp"
#include "platform/thread_self.hpp"

namespace ors = onspin::detail::rseq;
using onspin::detail::now_ns;

namespace {

bool advertised() {
  const char *why;
  return ors::kernel_advertises(&why);
}

// Starts the registry before any lock of this process: for real on the
// patched kernel, in test mode elsewhere.
class RseqEnv : public ::testing::Environment {
public:
  void SetUp() override {
    const char *why;
    const bool real = ors::kernel_advertises(&why);
    std::printf("[ rseq    ] %s\n", why);
    if (!ors::start(real, &why)) {
      std::printf("[ rseq    ] registry not started: %s\n", why);
      GTEST_SKIP();
    }
  }
};
const auto *env = ::testing::AddGlobalTestEnvironment(new RseqEnv);

// A thread on a stack of our own, so the test can unmap the stack (and the
// rseq area glibc keeps in it) after the thread exits.
struct own_stack_thread {
  static constexpr size_t kSize = 1 << 20;
  void *stack = nullptr;
  pthread_t thread{};

  // Returns 0 or the error of mmap or pthread_create.
  template <class F> int start(F *fn) {
    stack = mmap(nullptr, kSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (stack == MAP_FAILED) return errno;
    pthread_attr_t a;
    pthread_attr_init(&a);
    pthread_attr_setstack(&a, stack, kSize);
    const int rc = pthread_create(
        &thread, &a, [](void *p) -> void * { return (*static_cast<F *>(p))(), nullptr; }, fn);
    pthread_attr_destroy(&a);
    if (rc != 0) munmap(stack, kSize);
    return rc;
  }
  void join_and_unmap() {
    pthread_join(thread, nullptr);
    munmap(stack, kSize);
  }
};

} // namespace

TEST(RseqOracle, DetectionMatchesTheKernel) {
  const char *expect = std::getenv("ONSPIN_EXPECT_SCHED_STATE");
  if (expect == nullptr) GTEST_SKIP() << "ONSPIN_EXPECT_SCHED_STATE not set";
  ASSERT_TRUE(!std::strcmp(expect, "present") || !std::strcmp(expect, "absent")) << expect;
  EXPECT_EQ(advertised(), !std::strcmp(expect, "present"));
}

TEST(RseqOracle, UnregisteredKeysAreUnknown) {
  EXPECT_EQ(ors::read(0), ors::kNoEntry);
  EXPECT_EQ(ors::read(ors::kMaxKeys - 1), ors::kNoEntry);
  EXPECT_EQ(ors::read(ors::kMaxKeys + 5), ors::kNoEntry);
}

TEST(RseqOracle, ARegisteredThreadIsKnownUntilItExits) {
  std::atomic<uint32_t> key{0};
  std::atomic<bool> stop{false};
  std::atomic<bool> asleep{false};
  uint32_t word = 0;
  auto body = [&] {
    key = onspin::detail::self_key(); // registers, as a first lock would
    while (!stop.load(std::memory_order_relaxed)) {
    }
    asleep = true;
    while (__atomic_load_n(&word, __ATOMIC_ACQUIRE) == 0)
      syscall(SYS_futex, &word, FUTEX_WAIT_PRIVATE, 0, nullptr, nullptr, 0);
  };
  own_stack_thread t;
  ASSERT_EQ(t.start(&body), 0);
  while (key.load() == 0) {
  }
  // Busy: known, and ON on the patched kernel for most reads.
  int on = 0, reads = 0;
  for (const uint64_t end = now_ns() + 100000000; now_ns() < end; ++reads) {
    const uint32_t v = ors::read(key);
    ASSERT_NE(v, ors::kNoEntry);
    on += (v & ors::kOnCpu) != 0;
  }
  if (advertised()) {
    EXPECT_GE(on, reads * 9 / 10) << on << " of " << reads;
  }
  // Asleep in a futex: OFF and not PREEMPTED in every read once it is there.
  stop = true;
  while (!asleep.load()) {
  }
  usleep(50000);
  int on_asleep = 0;
  for (int i = 0; i < 1000; ++i) {
    const uint32_t v = ors::read(key);
    ASSERT_NE(v, ors::kNoEntry);
    on_asleep += v != 0; // neither ON nor PREEMPTED: blocked
  }
  EXPECT_EQ(on_asleep, 0);
  __atomic_store_n(&word, 1, __ATOMIC_RELEASE);
  syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
  t.join_and_unmap();
  // Gone: its slot was cleared before it could be unmapped.
  EXPECT_EQ(ors::read(key), ors::kNoEntry);
}

// Owners come and go, their stacks unmapped as soon as they are joined,
// while readers ask about them (and about the ones already gone) as fast as
// they can. No read may crash, and none may say ON for a joined owner.
TEST(RseqOracle, ExitingOwnersWithUnmappedStacksNeverCrashAReader) {
  constexpr int kRounds = 150, kOwners = 3, kReaders = 2;
  constexpr int kKeys = kRounds * kOwners;
  std::vector<std::atomic<uint32_t>> keys(kKeys);
  std::vector<std::atomic<bool>> joined(kKeys);
  std::atomic<int> published{0};
  std::atomic<bool> done{false};
  std::atomic<long> reads{0}, wrong{0}, known{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r)
    readers.emplace_back([&, r] {
      unsigned seed = 12345u + r;
      long n = 0;
      while (!done.load(std::memory_order_relaxed)) {
        const int have = published.load(std::memory_order_acquire);
        if (have == 0) continue;
        const int i = static_cast<int>(rand_r(&seed) % have);
        const bool was_joined = joined[i].load(std::memory_order_acquire);
        const uint32_t v = ors::read(keys[i].load(std::memory_order_relaxed));
        if (v != ors::kNoEntry) known.fetch_add(1, std::memory_order_relaxed);
        if (was_joined && v != ors::kNoEntry) wrong.fetch_add(1, std::memory_order_relaxed);
        ++n;
      }
      reads += n;
    });
  const uint64_t give_up = now_ns() + 10000000000ull; // bounded: 10 s at most
  int start_error = 0;
  for (int round = 0; round < kRounds && now_ns() < give_up && start_error == 0; ++round) {
    own_stack_thread owners[kOwners];
    std::atomic<int> ready{0};
    auto body = [&, round](int k) {
      keys[round * kOwners + k] = onspin::detail::self_key();
      published.fetch_add(1, std::memory_order_release); // keys fill in order
      ready.fetch_add(1);
      for (const uint64_t end = now_ns() + 200000; now_ns() < end;) {
      }
    };
    std::function<void()> fns[kOwners];
    int started = 0;
    for (; started < kOwners; ++started) {
      fns[started] = [&, k = started] { body(k); };
      if ((start_error = owners[started].start(&fns[started])) != 0) break;
      while (ready.load() <= started) {
      }
    }
    for (int k = 0; k < started; ++k) {
      owners[k].join_and_unmap();
      joined[round * kOwners + k].store(true, std::memory_order_release);
    }
  }
  done = true;
  for (auto &t : readers)
    t.join();
  ASSERT_EQ(start_error, 0) << std::strerror(start_error);
  std::printf("[ rseq    ] %ld reads, %ld of them of a live owner; %ld wrong\n", reads.load(),
              known.load(), wrong.load());
  EXPECT_GT(reads.load(), 1000);
  EXPECT_GT(known.load(), 0); // the test did read live areas
  EXPECT_EQ(wrong.load(), 0);
}

// The same through the lock: short-lived owners take the lock and exit
// (their stacks unmapped), while waiters spin asking about them.
TEST(RseqOracle, MutexOwnersExitWhileWaitersAsk) {
  onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
  long counter = 0;
  std::atomic<bool> done{false};
  std::vector<std::thread> waiters;
  long waiter_ops = 0;
  for (int w = 0; w < 2; ++w)
    waiters.emplace_back([&] {
      long n = 0;
      while (!done.load(std::memory_order_relaxed)) {
        onspin_mutex_lock(&m);
        ++counter;
        onspin_mutex_unlock(&m);
        ++n;
      }
      onspin_mutex_lock(&m);
      waiter_ops += n;
      onspin_mutex_unlock(&m);
    });
  constexpr int kOwners = 200, kOps = 200;
  const uint64_t give_up = now_ns() + 10000000000ull;
  int owners_run = 0, start_error = 0;
  for (; owners_run < kOwners && now_ns() < give_up; ++owners_run) {
    own_stack_thread t;
    std::function<void()> fn = [&] {
      for (int i = 0; i < kOps; ++i) {
        onspin_mutex_lock(&m);
        ++counter;
        for (const uint64_t end = now_ns() + 2000; now_ns() < end;) {
        }
        onspin_mutex_unlock(&m);
      }
    };
    if ((start_error = t.start(&fn)) != 0) break;
    t.join_and_unmap();
  }
  done = true;
  for (auto &t : waiters)
    t.join();
  ASSERT_EQ(start_error, 0) << std::strerror(start_error);
  EXPECT_EQ(counter, waiter_ops + static_cast<long>(owners_run) * kOps);
}
