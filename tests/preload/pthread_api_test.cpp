// pthread mutexes and condition variables through the pthread API, run
// twice by ctest: under the LD_PRELOAD interposer (ONSPIN_TEST_UNDER=onspin)
// and under glibc alone (ONSPIN_TEST_UNDER=glibc), which shows that each
// test states glibc's behaviour. Under onspin, a locked mutex's word holds
// the owner's TID where glibc's holds 1: that tells who served a call.
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <dlfcn.h>
#include <gtest/gtest.h>
#include <pthread.h>
#include <string>
#include <sys/mman.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "support/test_support.hpp"

using namespace onspin::test;
using namespace std::chrono_literals;

namespace {

bool under_onspin() {
  const char *v = std::getenv("ONSPIN_TEST_UNDER");
  return v == nullptr || std::strcmp(v, "glibc") != 0;
}

bool pshared_to_onspin() {
  const char *v = std::getenv("ONSPIN_PSHARED");
  return under_onspin() && v && std::strcmp(v, "onspin") == 0;
}

unsigned word(const pthread_mutex_t &m) { return m.__data.__lock; }
unsigned my_tid() { return static_cast<unsigned>(gettid()); }

// The word a held mutex shows when onspin (or glibc) serves it.
unsigned held_word(bool by_onspin) { return by_onspin ? my_tid() : 1u; }

struct mutex_attr {
  pthread_mutexattr_t a;
  explicit mutex_attr(int type = PTHREAD_MUTEX_DEFAULT) {
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, type);
  }
  ~mutex_attr() { pthread_mutexattr_destroy(&a); }
};

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

// Filled by a constructor that runs before main: locking and waiting work
// before any program code, whatever the order of constructors.
std::atomic<unsigned> constructor_word{0};
std::atomic<bool> constructor_waited{false};
pthread_mutex_t constructor_m = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t constructor_c = PTHREAD_COND_INITIALIZER;
bool constructor_flag = false;

[[gnu::constructor(101)]] void lock_before_main() {
  pthread_mutex_lock(&constructor_m);
  constructor_word = word(constructor_m);
  pthread_t t;
  pthread_create(
      &t, nullptr,
      [](void *) -> void * {
        pthread_mutex_lock(&constructor_m);
        constructor_flag = true;
        pthread_cond_signal(&constructor_c);
        pthread_mutex_unlock(&constructor_m);
        return nullptr;
      },
      nullptr);
  while (!constructor_flag)
    pthread_cond_wait(&constructor_c, &constructor_m);
  pthread_mutex_unlock(&constructor_m);
  pthread_join(t, nullptr);
  constructor_waited = true;
}

} // namespace

TEST(Served, StaticMutexHoldsItsOwnersTid) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  ASSERT_EQ(pthread_mutex_lock(&m), 0);
  EXPECT_EQ(word(m), held_word(under_onspin()));
  ASSERT_EQ(pthread_mutex_unlock(&m), 0);
  EXPECT_EQ(word(m), 0u);
}

TEST(Served, EveryTypeAndRobustnessInitialised) {
  for (int type : {PTHREAD_MUTEX_NORMAL, PTHREAD_MUTEX_RECURSIVE, PTHREAD_MUTEX_ERRORCHECK,
                   PTHREAD_MUTEX_ADAPTIVE_NP})
    for (int robust : {PTHREAD_MUTEX_STALLED, PTHREAD_MUTEX_ROBUST}) {
      mutex_attr a(type);
      pthread_mutexattr_setrobust(&a.a, robust);
      pthread_mutex_t m;
      std::memset(&m, 0xa5, sizeof m); // init must not depend on the old contents
      ASSERT_EQ(pthread_mutex_init(&m, &a.a), 0);
      ASSERT_EQ(pthread_mutex_lock(&m), 0);
      // glibc's robust words hold the TID too; its others hold 1.
      EXPECT_EQ(word(m), robust == PTHREAD_MUTEX_ROBUST ? my_tid() : held_word(under_onspin()))
          << "type " << type << " robust " << robust;
      ASSERT_EQ(pthread_mutex_unlock(&m), 0);
      EXPECT_EQ(pthread_mutex_destroy(&m), 0);
    }
}

TEST(Served, LockingInAConstructorBeforeMain) {
  EXPECT_TRUE(constructor_waited.load());
  EXPECT_EQ(constructor_word.load(), held_word(under_onspin()));
}

// A library the program links runs its constructors before the
// interposer's: its locks and waits are served all the same.
extern "C" unsigned early_locker_word;
extern "C" int early_locker_waited;
TEST(Served, LockingInALibraryConstructorBeforeTheInterposers) {
  EXPECT_EQ(early_locker_waited, 1);
  EXPECT_EQ(early_locker_word, held_word(under_onspin()));
}

TEST(Served, LibraryLoadedWithDlopen) {
  void *lib = dlopen(ONSPIN_DL_LOCKER, RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(lib, nullptr) << dlerror();
  auto word_while_held = reinterpret_cast<unsigned (*)()>(dlsym(lib, "dl_locker_word_while_held"));
  ASSERT_NE(word_while_held, nullptr);
  EXPECT_EQ(word_while_held(), held_word(under_onspin()));
  dlclose(lib);
}

// The environment carries the preload across exec: the new image is served.
TEST(Served, ProgramStartedWithExec) {
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    execl("/proc/self/exe", "pthread_api_tests", "--child-report-word", nullptr);
    _exit(99);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), under_onspin() ? 0 : 1) << "0: served by onspin";
}

TEST(Types, NormalRelockWaitsAsInGlibc) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  ASSERT_EQ(pthread_mutex_lock(&m), 0);
  const timespec soon = in_ms(30, CLOCK_REALTIME);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(pthread_mutex_timedlock(&m, &soon), ETIMEDOUT);
  EXPECT_GE(ms_since(t0), 20);
  EXPECT_EQ(pthread_mutex_trylock(&m), EBUSY);
  ASSERT_EQ(pthread_mutex_unlock(&m), 0);
}

TEST(Types, NormalIsReleasedByAnyThread) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  ASSERT_EQ(pthread_mutex_lock(&m), 0);
  std::thread([&] { EXPECT_EQ(pthread_mutex_unlock(&m), 0); }).join();
  EXPECT_EQ(pthread_mutex_trylock(&m), 0);
  ASSERT_EQ(pthread_mutex_unlock(&m), 0);
}

TEST(Types, ErrorcheckReportsRelockAndForeignUnlock) {
  pthread_mutex_t s = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
  mutex_attr a(PTHREAD_MUTEX_ERRORCHECK);
  pthread_mutex_t i;
  ASSERT_EQ(pthread_mutex_init(&i, &a.a), 0);
  for (pthread_mutex_t *m : {&s, &i}) {
    EXPECT_EQ(pthread_mutex_unlock(m), EPERM) << "not locked";
    ASSERT_EQ(pthread_mutex_lock(m), 0);
    EXPECT_EQ(pthread_mutex_lock(m), EDEADLK);
    std::thread([&] { EXPECT_EQ(pthread_mutex_unlock(m), EPERM); }).join();
    ASSERT_EQ(pthread_mutex_unlock(m), 0);
  }
}

TEST(Types, RecursiveNestsAndOnlyItsOwnerUnlocks) {
  pthread_mutex_t s = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
  for (int i = 0; i < 3; ++i)
    ASSERT_EQ(pthread_mutex_lock(&s), 0);
  EXPECT_EQ(pthread_mutex_trylock(&s), 0);
  const timespec later = in_ms(1000, CLOCK_REALTIME);
  EXPECT_EQ(pthread_mutex_timedlock(&s, &later), 0);
  std::thread([&] {
    EXPECT_EQ(pthread_mutex_unlock(&s), EPERM);
    EXPECT_EQ(pthread_mutex_trylock(&s), EBUSY);
  }).join();
  for (int i = 0; i < 5; ++i)
    ASSERT_EQ(pthread_mutex_unlock(&s), 0);
  EXPECT_EQ(pthread_mutex_unlock(&s), EPERM);
}

// POSIX lets a free mutex be taken without checking the time; glibc does so.
TEST(Types, TimedLockChecksTheTimeOnlyWhenItMustWait) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  const timespec bad{0, 2000000000};
  EXPECT_EQ(pthread_mutex_timedlock(&m, &bad), 0);
  std::thread([&] { EXPECT_EQ(pthread_mutex_timedlock(&m, &bad), EINVAL); }).join();
  const timespec past = in_ms(-10, CLOCK_MONOTONIC);
  std::thread([&] {
    EXPECT_EQ(pthread_mutex_clocklock(&m, CLOCK_MONOTONIC, &past), ETIMEDOUT);
    EXPECT_EQ(pthread_mutex_clocklock(&m, CLOCK_PROCESS_CPUTIME_ID, &past), EINVAL);
  }).join();
  ASSERT_EQ(pthread_mutex_unlock(&m), 0);
  // The owner's relock of an error-checking mutex is reported before the time.
  pthread_mutex_t e = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
  ASSERT_EQ(pthread_mutex_lock(&e), 0);
  EXPECT_EQ(pthread_mutex_timedlock(&e, &bad), EDEADLK);
  EXPECT_EQ(pthread_mutex_clocklock(&e, CLOCK_MONOTONIC, &bad), EDEADLK);
  ASSERT_EQ(pthread_mutex_unlock(&e), 0);
}

TEST(Types, DestroyedMutexIsInvalidUntilInitialisedAgain) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  ASSERT_EQ(pthread_mutex_lock(&m), 0);
  EXPECT_EQ(pthread_mutex_destroy(&m), EBUSY);
  ASSERT_EQ(pthread_mutex_unlock(&m), 0);
  ASSERT_EQ(pthread_mutex_destroy(&m), 0);
  EXPECT_EQ(pthread_mutex_lock(&m), EINVAL);
  ASSERT_EQ(pthread_mutex_init(&m, nullptr), 0);
  EXPECT_EQ(pthread_mutex_lock(&m), 0);
  EXPECT_EQ(pthread_mutex_unlock(&m), 0);
}

TEST(Robust, OwnerDeathIsReportedThenRepairedOrRetired) {
  for (bool repair : {true, false}) {
    mutex_attr a;
    pthread_mutexattr_setrobust(&a.a, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_t m;
    ASSERT_EQ(pthread_mutex_init(&m, &a.a), 0);
    std::thread([&] { ASSERT_EQ(pthread_mutex_lock(&m), 0); }).join(); // dies holding it
    ASSERT_EQ(pthread_mutex_lock(&m), EOWNERDEAD);
    if (repair) {
      EXPECT_EQ(pthread_mutex_consistent(&m), 0);
      EXPECT_EQ(pthread_mutex_unlock(&m), 0);
      EXPECT_EQ(pthread_mutex_lock(&m), 0);
      EXPECT_EQ(pthread_mutex_unlock(&m), 0);
    } else {
      EXPECT_EQ(pthread_mutex_unlock(&m), 0);
      EXPECT_EQ(pthread_mutex_lock(&m), ENOTRECOVERABLE);
    }
    pthread_mutex_destroy(&m);
  }
}

// Priority-inheritance mutexes stay glibc's (their word is the kernel's
// PI futex: the TID either way); onspin's condition variable works with them.
TEST(LeftToGlibc, PriorityInheritanceMutexWithACondition) {
  mutex_attr a;
  ASSERT_EQ(pthread_mutexattr_setprotocol(&a.a, PTHREAD_PRIO_INHERIT), 0);
  pthread_mutex_t m;
  ASSERT_EQ(pthread_mutex_init(&m, &a.a), 0);
  pthread_cond_t c = PTHREAD_COND_INITIALIZER;
  bool ready = false;
  long counter = 0;
  std::thread t([&] {
    for (int i = 0; i < 2000; ++i) {
      pthread_mutex_lock(&m);
      ++counter;
      if (i == 1000) {
        ready = true;
        pthread_cond_signal(&c);
      }
      pthread_mutex_unlock(&m);
    }
  });
  ASSERT_EQ(pthread_mutex_lock(&m), 0);
  EXPECT_EQ(word(m) & 0x3fffffff, my_tid());
  while (!ready)
    ASSERT_EQ(pthread_cond_wait(&c, &m), 0);
  for (int i = 0; i < 2000; ++i)
    ++counter;
  ASSERT_EQ(pthread_mutex_unlock(&m), 0);
  t.join();
  EXPECT_EQ(counter, 4000);
  EXPECT_EQ(pthread_mutex_destroy(&m), 0);
}

// Process-shared mutexes are glibc's unless ONSPIN_PSHARED=onspin; either
// way two processes exclude each other.
TEST(LeftToGlibc, ProcessSharedMutexFollowsThePolicy) {
  struct shared {
    pthread_mutex_t m;
    long counter;
  };
  auto *s = static_cast<shared *>(
      mmap(nullptr, sizeof(shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(s, MAP_FAILED);
  mutex_attr a;
  pthread_mutexattr_setpshared(&a.a, PTHREAD_PROCESS_SHARED);
  ASSERT_EQ(pthread_mutex_init(&s->m, &a.a), 0);
  ASSERT_EQ(pthread_mutex_lock(&s->m), 0);
  EXPECT_EQ(word(s->m), held_word(pshared_to_onspin()));
  ASSERT_EQ(pthread_mutex_unlock(&s->m), 0);
  constexpr int kRounds = 20000;
  const auto work = [&] {
    for (int i = 0; i < kRounds; ++i) {
      if (pthread_mutex_lock(&s->m) != 0) return 1;
      ++s->counter;
      if (pthread_mutex_unlock(&s->m) != 0) return 2;
    }
    return 0;
  };
  const pid_t child = fork_child(work);
  EXPECT_EQ(work(), 0);
  EXPECT_EQ(wait_child(child), 0);
  EXPECT_EQ(s->counter, 2 * kRounds);
  munmap(s, sizeof(shared));
}

TEST(Cond, TimedWaitUsesTheClockOfItsAttributes) {
  for (clockid_t clock : {CLOCK_MONOTONIC, CLOCK_REALTIME}) {
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    ASSERT_EQ(pthread_condattr_setclock(&ca, clock), 0);
    pthread_cond_t c;
    ASSERT_EQ(pthread_cond_init(&c, &ca), 0);
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&m);
    // On the other clock, this deadline would be decades away or long past.
    const timespec at = in_ms(40, clock);
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_EQ(pthread_cond_timedwait(&c, &m, &at), ETIMEDOUT);
    const double waited = ms_since(t0);
    EXPECT_GE(waited, 30) << "clock " << clock;
    EXPECT_LT(waited, 5000) << "clock " << clock;
    // Held again (glibc's condition variable relocks with the word at 2).
    if (under_onspin())
      EXPECT_EQ(word(m), my_tid());
    else
      EXPECT_NE(word(m), 0u);
    pthread_mutex_unlock(&m);
    EXPECT_EQ(pthread_cond_destroy(&c), 0);
    pthread_condattr_destroy(&ca);
  }
}

TEST(Cond, ClockwaitTakesTheClockItIsGiven) {
  pthread_cond_t c = PTHREAD_COND_INITIALIZER;
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_lock(&m);
  const timespec at = in_ms(30, CLOCK_MONOTONIC);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(pthread_cond_clockwait(&c, &m, CLOCK_MONOTONIC, &at), ETIMEDOUT);
  EXPECT_GE(ms_since(t0), 20);
  EXPECT_EQ(pthread_cond_clockwait(&c, &m, CLOCK_PROCESS_CPUTIME_ID, &at), EINVAL);
  const timespec bad{0, -1};
  EXPECT_EQ(pthread_cond_timedwait(&c, &m, &bad), EINVAL);
  pthread_mutex_unlock(&m);
}

TEST(Cond, WaitWithAnErrorcheckMutexNotHeldIsEperm) {
  pthread_cond_t c = PTHREAD_COND_INITIALIZER;
  pthread_mutex_t m = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
  EXPECT_EQ(pthread_cond_wait(&c, &m), EPERM);
  EXPECT_EQ(pthread_cond_destroy(&c), 0) << "the failed wait left no waiter behind";
}

// A mutex released by a condition waiter is still in use: destroying it
// returns EBUSY until the waiter has it back (glibc's __nusers), for mutexes
// onspin serves and for those it leaves to glibc.
TEST(Cond, MutexOfASleepingWaiterIsBusy) {
  for (int protocol : {PTHREAD_PRIO_NONE, PTHREAD_PRIO_INHERIT}) {
    mutex_attr a;
    pthread_mutexattr_setprotocol(&a.a, protocol);
    pthread_mutex_t m;
    ASSERT_EQ(pthread_mutex_init(&m, &a.a), 0);
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    bool go = false, waiting = false;
    std::thread t([&] {
      pthread_mutex_lock(&m);
      waiting = true;
      while (!go)
        pthread_cond_wait(&c, &m);
      pthread_mutex_unlock(&m);
    });
    for (bool seen = false; !seen; std::this_thread::sleep_for(1ms)) {
      pthread_mutex_lock(&m);
      seen = waiting;
      pthread_mutex_unlock(&m);
    }
    EXPECT_EQ(pthread_mutex_destroy(&m), EBUSY) << "protocol " << protocol;
    pthread_mutex_lock(&m);
    go = true;
    pthread_cond_signal(&c);
    pthread_mutex_unlock(&m);
    t.join();
    EXPECT_EQ(pthread_mutex_destroy(&m), 0) << "protocol " << protocol;
  }
}

// glibc's destroy waits for every waiter to leave, even one never signalled
// (here a timed one): it does not fail with EBUSY.
TEST(Cond, DestroyWaitsForWaitersToLeave) {
  pthread_cond_t c = PTHREAD_COND_INITIALIZER;
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  std::atomic<bool> waiting{false};
  std::thread t([&] {
    pthread_mutex_lock(&m);
    const timespec at = in_ms(150, CLOCK_REALTIME);
    waiting = true;
    EXPECT_EQ(pthread_cond_timedwait(&c, &m, &at), ETIMEDOUT);
    pthread_mutex_unlock(&m);
  });
  while (!waiting)
    std::this_thread::sleep_for(1ms);
  pthread_mutex_lock(&m); // the waiter is asleep once it released m
  pthread_mutex_unlock(&m);
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(pthread_cond_destroy(&c), 0);
  EXPECT_GE(ms_since(t0), 50) << "destroy returned while the waiter was still waiting";
  t.join();
}

// pthread_cond_wait is a cancellation point; the cancelled waiter holds the
// mutex again when its cleanup handlers run, and leaves no waiter behind.
TEST(Cond, CancelledWaiterHoldsTheMutexInItsCleanup) {
  struct state {
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t c = PTHREAD_COND_INITIALIZER;
    std::atomic<bool> waiting{false};
    std::atomic<int> cleanup_saw{-1}; // trylock's result inside the cleanup
  } s;
  pthread_t t;
  ASSERT_EQ(pthread_create(
                &t, nullptr,
                [](void *p) -> void * {
                  auto *s = static_cast<state *>(p);
                  pthread_mutex_lock(&s->m);
                  pthread_cleanup_push(
                      [](void *p) {
                        auto *s = static_cast<state *>(p);
                        // Held by this thread: a relock attempt fails.
                        s->cleanup_saw = pthread_mutex_trylock(&s->m);
                        pthread_mutex_unlock(&s->m);
                      },
                      s);
                  s->waiting = true;
                  for (;;)
                    pthread_cond_wait(&s->c, &s->m);
                  pthread_cleanup_pop(0);
                  return nullptr;
                },
                &s),
            0);
  while (!s.waiting)
    std::this_thread::sleep_for(1ms);
  pthread_mutex_lock(&s.m);
  pthread_mutex_unlock(&s.m);
  ASSERT_EQ(pthread_cancel(t), 0);
  void *result = nullptr;
  ASSERT_EQ(pthread_join(t, &result), 0);
  EXPECT_EQ(result, PTHREAD_CANCELED);
  EXPECT_EQ(s.cleanup_saw.load(), EBUSY);
  EXPECT_EQ(pthread_mutex_trylock(&s.m), 0) << "the cleanup released it";
  pthread_mutex_unlock(&s.m);
  EXPECT_EQ(pthread_cond_destroy(&s.c), 0);
}

// A bounded queue: no wake-up is lost, whatever the interleaving.
TEST(Cond, ProducersAndConsumersLoseNoWakeup) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  pthread_cond_t not_full = PTHREAD_COND_INITIALIZER, not_empty = PTHREAD_COND_INITIALIZER;
  std::vector<int> queue;
  constexpr int kItems = 20000, kCapacity = 4;
  long sum = 0;
  run_threads(4, [&](int id) {
    const bool producer = id % 2 == 0;
    for (int i = 0; i < kItems; ++i) {
      pthread_mutex_lock(&m);
      if (producer) {
        while (queue.size() == kCapacity)
          pthread_cond_wait(&not_full, &m);
        queue.push_back(i);
        pthread_cond_signal(&not_empty);
      } else {
        while (queue.empty())
          pthread_cond_wait(&not_empty, &m);
        sum += queue.back();
        queue.pop_back();
        pthread_cond_signal(&not_full);
      }
      pthread_mutex_unlock(&m);
    }
  });
  EXPECT_EQ(sum, 2L * kItems * (kItems - 1) / 2);
}

// A process-shared condition variable (glibc's by default) waited on with a
// private mutex (onspin's): the bridge keeps every signal.
TEST(Cond, ProcessSharedConditionWithAPrivateMutex) {
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setpshared(&ca, PTHREAD_PROCESS_SHARED);
  pthread_cond_t c;
  ASSERT_EQ(pthread_cond_init(&c, &ca), 0);
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  int turn = 0;
  constexpr int kRounds = 2000;
  run_threads(2, [&](int id) {
    for (int i = 0; i < kRounds; ++i) {
      pthread_mutex_lock(&m);
      while (turn % 2 != id)
        pthread_cond_wait(&c, &m);
      ++turn;
      pthread_cond_broadcast(&c);
      pthread_mutex_unlock(&m);
    }
  });
  EXPECT_EQ(turn, 2 * kRounds);
  EXPECT_EQ(pthread_cond_destroy(&c), 0);
}

TEST(Stress, MutualExclusionOfEveryType) {
  for (int type : {PTHREAD_MUTEX_NORMAL, PTHREAD_MUTEX_RECURSIVE, PTHREAD_MUTEX_ERRORCHECK,
                   PTHREAD_MUTEX_ADAPTIVE_NP}) {
    mutex_attr a(type);
    pthread_mutex_t m;
    ASSERT_EQ(pthread_mutex_init(&m, &a.a), 0);
    long counter = 0;
    std::atomic<int> inside{0};
    run_threads(4, [&](int id) {
      for (int i = 0; i < 50000; ++i) {
        const int r = (i + id) % 3 == 0 ? pthread_mutex_trylock(&m) : pthread_mutex_lock(&m);
        if (r == EBUSY) continue;
        ASSERT_EQ(r, 0);
        ASSERT_EQ(inside.fetch_add(1), 0);
        ++counter;
        inside.fetch_sub(1);
        ASSERT_EQ(pthread_mutex_unlock(&m), 0);
      }
    });
    EXPECT_GT(counter, 0);
    EXPECT_EQ(pthread_mutex_destroy(&m), 0);
  }
}

// The pthread_atfork pattern: the child releases what its parent held.
// glibc's error-checking mutexes refuse that (EPERM: the child's TID is
// new); onspin knows the forking thread's old TID and accepts it.
TEST(Fork, ChildReleasesTheLocksItsParentHeld) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  pthread_mutex_t e = PTHREAD_ERRORCHECK_MUTEX_INITIALIZER_NP;
  pthread_mutex_lock(&m);
  pthread_mutex_lock(&e);
  const int expected = under_onspin() ? 0 : EPERM;
  const pid_t child = fork_child([&] {
    if (pthread_mutex_unlock(&m) != 0) return 1;
    if (pthread_mutex_lock(&m) != 0 || pthread_mutex_unlock(&m) != 0) return 2;
    if (pthread_mutex_unlock(&e) != expected) return 3;
    return 0;
  });
  EXPECT_EQ(wait_child(child), 0);
  EXPECT_EQ(pthread_mutex_unlock(&m), 0);
  EXPECT_EQ(pthread_mutex_unlock(&e), 0);
}

int main(int argc, char **argv) {
  if (argc == 2 && std::strcmp(argv[1], "--child-report-word") == 0) {
    pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
    pthread_mutex_lock(&m);
    return word(m) == my_tid() ? 0 : 1;
  }
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
