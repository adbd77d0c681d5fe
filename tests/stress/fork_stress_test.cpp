// Fork stress: threads hammer private, process-shared and robust
// process-shared locks while another thread forks again and again, rotating
// fork(), _Fork() (no atfork handlers run) and vfork() + exec of this binary
// in a child mode. Every child takes the process-shared locks against the
// parent's threads. Checked, in parent and children: mutual exclusion (a
// two-step counter update and a holder field); lock and unlock return 0,
// never EDEADLK or EPERM; a child that exits holding the robust lock is
// reported to the next locker with EOWNERDEAD (and no EOWNERDEAD otherwise);
// a child's unlock of a lock its parent holds returns EPERM and leaves it
// held, and its lock of it waits; after fork() the child may release a
// private lock its forking thread held (the pthread_atfork pattern).
//
// Bounded: 201 children or 10 s. Children report by exit status plus a
// record in shared memory: they may not allocate (a _Fork child of a threaded
// process inherits held malloc locks) and TSan cannot follow them. The test
// stops at the first failure, so ONSPIN_FORK_STRESS_KINDS (below) helps to
// study one way of starting children at a time.
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <gtest/gtest.h>
#include <mutex>
#include <onspin/onspin.h>
#include <random>
#include <string>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "support/test_support.hpp"

extern char **environ;

using namespace onspin::test;

namespace {

constexpr uint32_t kOwnerMask = 0x3fffffff; // onspin.h: owner TID bits of `word`
constexpr long kLockTimeoutMs = 5000;       // a lock taking longer is wedged
constexpr int kChildRounds = 100;
constexpr int kMaxForks = 201;
constexpr int64_t kMaxNs = 10000000000;
constexpr const char *kChildEnv = "ONSPIN_PROCESS_TESTS_CHILD"; // "fd:flags": exec'd child mode

// Child flags.
constexpr int kParentHolds = 1; // the forking thread holds ps and rb across the fork
constexpr int kDieHolding = 2;  // exit holding rb
constexpr int kPrivateHeld = 4; // fork(): the forking thread also holds `priv[0]`

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int32_t self_tid() { return static_cast<int32_t>(syscall(SYS_gettid)); }

struct guarded {
  std::atomic<int64_t> counter; // two non-atomic steps per section
  std::atomic<int32_t> holder;  // TID inside, else 0
  std::atomic<uint64_t> done;
};

// What a child writes before exiting with status 1.
struct child_failure {
  std::atomic<int32_t> pid;
  std::atomic<int32_t> value; // the return value checked
  std::atomic<uint32_t> word; // the lock word at that moment
  char what[160];
};

struct shared {
  onspin_mutex_t ps; // process-shared
  onspin_mutex_t rb; // process-shared, robust
  guarded ps_state, rb_state;
  std::atomic<int32_t> rb_died_holding; // pid of a child that exited holding rb, until reported
  std::atomic<uint64_t> rb_deaths, rb_reports;
  std::atomic<int32_t> parent_holder; // the forking thread's TID while it holds ps and rb
  std::atomic<int32_t> child_checked; // the child has checked the locks its parent holds
  child_failure failure;
};

// A failed check: a static text, the value checked and the lock word.
struct check {
  const char *what = nullptr;
  int value = 0;
  uint32_t word = 0;
  explicit operator bool() const { return what != nullptr; }
};

uint32_t word_of(const onspin_mutex_t *m) { return __atomic_load_n(&m->word, __ATOMIC_SEQ_CST); }

check failed(const char *what, int value, const onspin_mutex_t *m) {
  return check{what, value, m ? word_of(m) : 0};
}

check run_section(guarded &g, int32_t me, onspin_mutex_t *m) {
  if (g.holder.load() != 0)
    return failed("mutual exclusion: entered while another is inside", g.holder, m);
  g.holder.store(me);
  int64_t c = g.counter.load(std::memory_order_relaxed);
  burn(50);
  g.counter.store(c + 1, std::memory_order_relaxed);
  c = g.counter.load(std::memory_order_relaxed);
  g.counter.store(c + 1, std::memory_order_relaxed);
  g.done.fetch_add(1);
  if (g.holder.load() != me)
    return failed("mutual exclusion: another entered meanwhile", g.holder, m);
  g.holder.store(0);
  return {};
}

// Takes the robust lock, checking EOWNERDEAD against the record of children
// that exited holding it, and repairs after a death.
check lock_robust(shared *s) {
  const timespec deadline = in_ms(kLockTimeoutMs);
  const int r = onspin_mutex_timedlock(&s->rb, CLOCK_MONOTONIC, &deadline);
  const int32_t died = s->rb_died_holding.load();
  if (r == EOWNERDEAD) {
    if (died == 0)
      return failed("robust lock: EOWNERDEAD, but no owner died holding it", r, &s->rb);
    if (int32_t h = s->rb_state.holder.load(); h != died)
      return failed("robust lock: EOWNERDEAD, but the section's holder is not the dead child", h,
                    &s->rb);
    s->rb_state.holder.store(0);
    s->rb_died_holding.store(0);
    s->rb_reports.fetch_add(1);
    if (int c = onspin_mutex_consistent(&s->rb)) return failed("consistent() failed", c, &s->rb);
    return {};
  }
  if (r != 0)
    return failed(r == ETIMEDOUT ? "robust lock: wedged (5 s timed out)"
                                 : "robust lock: lock failed (not 0 or EOWNERDEAD)",
                  r, &s->rb);
  if (died != 0)
    return failed("robust lock: returned 0 although a child exited holding it (pid in value)", died,
                  &s->rb);
  return {};
}

check lock_shared(onspin_mutex_t *m) {
  const timespec deadline = in_ms(kLockTimeoutMs);
  if (int r = onspin_mutex_timedlock(m, CLOCK_MONOTONIC, &deadline))
    return failed(r == ETIMEDOUT ? "process-shared lock: wedged (5 s timed out)"
                                 : "process-shared lock: lock failed",
                  r, m);
  return {};
}

check section_ps(shared *s, int32_t me) {
  if (check c = lock_shared(&s->ps)) return c;
  if (check c = run_section(s->ps_state, me, &s->ps)) return c;
  if (int r = onspin_mutex_unlock(&s->ps)) return failed("process-shared unlock failed", r, &s->ps);
  return {};
}

check section_rb(shared *s, int32_t me) {
  if (check c = lock_robust(s)) return c;
  if (check c = run_section(s->rb_state, me, &s->rb)) return c;
  if (int r = onspin_mutex_unlock(&s->rb)) return failed("robust unlock failed", r, &s->rb);
  return {};
}

// ---------------------------------------------------------------------- child

[[noreturn]] void child_exit(shared *s, check c) {
  if (!c) _exit(0);
  child_failure &f = s->failure;
  f.value = c.value;
  f.word = c.word;
  strncpy(f.what, c.what, sizeof f.what - 1);
  f.pid = static_cast<int32_t>(getpid());
  _exit(1);
}

// The parent's forking thread holds ps and rb: the child must neither
// release them nor take them as its own.
check check_parent_held(shared *s, onspin_mutex_t *m) {
  const uint32_t parent = static_cast<uint32_t>(s->parent_holder.load());
  const int r = onspin_mutex_unlock(m);
  if (r != EPERM) return failed("child's unlock of a lock its parent holds: not EPERM", r, m);
  if ((word_of(m) & kOwnerMask) != parent)
    return failed("child's unlock of a lock its parent holds released it", r, m);
  const timespec deadline = in_ms(20);
  const int t = onspin_mutex_timedlock(m, CLOCK_MONOTONIC, &deadline);
  if (t != ETIMEDOUT)
    return failed("child's lock of a lock its parent holds did not wait (ETIMEDOUT expected)", t,
                  m);
  return {};
}

check child_body(shared *s, int flags, onspin_mutex_t *priv) {
  const int32_t me = static_cast<int32_t>(getpid());
  if (flags & kParentHolds) {
    if (check c = check_parent_held(s, &s->ps)) return c;
    if (check c = check_parent_held(s, &s->rb)) return c;
    if (flags & kPrivateHeld) { // our copy, locked by the forking thread before fork()
      if (int r = onspin_mutex_unlock(priv))
        return failed("fork child could not release the private lock its forking thread held", r,
                      priv);
      if (int r = onspin_mutex_lock(priv))
        return failed("fork child could not relock that private lock", r, priv);
      if (int r = onspin_mutex_unlock(priv))
        return failed("fork child could not unlock that private lock again", r, priv);
    }
    s->child_checked.store(1);
    // The parent releases both now; ps_state.holder says whether it had.
  }
  for (int i = 0; i < kChildRounds; ++i) {
    if (check c = section_ps(s, me)) return c;
    if (check c = section_rb(s, me)) return c;
  }
  if (flags & kDieHolding) {
    if (check c = lock_robust(s)) return c;
    s->rb_state.holder.store(me);
    s->rb_died_holding.store(me);
    _exit(0); // the kernel must mark rb OWNER_DIED now
  }
  return {};
}

// The exec'd child mode: runs before main when the variable is set.
[[gnu::constructor]] void exec_child_mode() {
  const char *spec = getenv(kChildEnv);
  if (spec == nullptr) return;
  int fd = -1, flags = 0;
  if (sscanf(spec, "%d:%d", &fd, &flags) != 2) _exit(2);
  void *p = mmap(nullptr, sizeof(shared), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) _exit(3);
  auto *s = static_cast<shared *>(p);
  child_exit(s, child_body(s, flags, nullptr));
}

// --------------------------------------------------------------------- parent

enum class how { fork, underscore_fork, vfork_exec };
const char *how_name(how h) {
  return h == how::fork ? "fork()" : h == how::underscore_fork ? "_Fork()" : "vfork()+exec";
}

#if defined(__SANITIZE_THREAD__)
#define PROCESS_TESTS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PROCESS_TESTS_TSAN 1
#endif
#endif

struct fork_stress {
  shared *s = nullptr;
  int fd = -1;
  onspin_mutex_t priv[2];
  guarded priv_state[2];
  std::mutex failures_lock;
  std::vector<std::string> failures;
  std::atomic<bool> stop{false};
  int forks[3] = {};

  void fail(const std::string &why) {
    std::lock_guard<std::mutex> g(failures_lock);
    if (failures.size() < 20) failures.push_back(why);
    stop = true;
  }
  void fail(const char *who, check c) {
    char buf[320];
    snprintf(buf, sizeof buf, "%s: %s (returned/value %d, word 0x%08x)", who, c.what, c.value,
             c.word);
    fail(std::string(buf));
  }

  check section_priv(int i, int32_t me) {
    const timespec deadline = in_ms(kLockTimeoutMs);
    if (int r = onspin_mutex_timedlock(&priv[i], CLOCK_MONOTONIC, &deadline))
      return failed("private lock failed", r, &priv[i]);
    if (check c = run_section(priv_state[i], me, &priv[i])) return c;
    if (int r = onspin_mutex_unlock(&priv[i])) return failed("private unlock failed", r, &priv[i]);
    return {};
  }

  check any_section(std::mt19937 &rng, int32_t me) {
    switch (rng() % 4) {
    case 0:
    case 1:
      return section_priv(static_cast<int>(rng() % 2), me);
    case 2:
      return section_ps(s, me);
    default:
      return section_rb(s, me);
    }
  }

  void hammer(int id) {
    std::mt19937 rng(id);
    const int32_t me = self_tid();
    while (!stop)
      if (check c = any_section(rng, me)) return fail("parent thread", c);
  }

  // Starts a child; the vfork child may only exec, so its strings are ready.
  pid_t start(how h, int flags, char *const *argv, char *const *envp) {
    switch (h) {
    case how::fork:
      if (pid_t pid = fork(); pid != 0) return pid;
      child_exit(s, child_body(s, flags, &priv[0]));
    case how::underscore_fork:
      if (pid_t pid = _Fork(); pid != 0) return pid;
      child_exit(s, child_body(s, flags, nullptr));
    case how::vfork_exec:
      if (pid_t pid = vfork(); pid != 0) return pid;
      execve("/proc/self/exe", argv, envp);
      _exit(127);
    }
    return -1;
  }

  static const char *flags_name(int flags) {
    if (flags & kPrivateHeld) return "parent holds ps, rb and a private lock";
    if (flags & kParentHolds) return "parent holds ps and rb";
    return flags & kDieHolding ? "exits holding rb" : "plain";
  }

  std::string child_message(pid_t pid, how h, int flags, int status) {
    char buf[512];
    const child_failure &f = s->failure;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 1 && f.pid.load() == pid)
      snprintf(buf, sizeof buf, "%s child (%s): %s (returned/value %d, word 0x%08x)", how_name(h),
               flags_name(flags), f.what, f.value.load(), f.word.load());
    else
      snprintf(buf, sizeof buf, "%s child (%s): %s %d", how_name(h), flags_name(flags),
               WIFEXITED(status) ? "exited with" : "killed by signal",
               WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    return buf;
  }

  // One child, from start to reaping; the forking thread keeps locking
  // meanwhile.
  void one_child(std::mt19937 &rng, how h, int flags) {
    const int32_t me = self_tid();
    std::vector<std::string> env_strings;
    std::vector<char *> argv{const_cast<char *>("/proc/self/exe"), nullptr}, envp;
    if (h == how::vfork_exec) {
      for (char **e = environ; *e; ++e)
        env_strings.emplace_back(*e);
      env_strings.push_back(std::string(kChildEnv) + "=" + std::to_string(fd) + ":" +
                            std::to_string(flags));
      for (std::string &e : env_strings)
        envp.push_back(e.data());
      envp.push_back(nullptr);
    }
    if (flags & kParentHolds) {
      if (check c = lock_shared(&s->ps)) return fail("forking thread", c);
      if (check c = lock_robust(s)) return fail("forking thread", c);
      s->ps_state.holder.store(me); // inside both sections until the child has checked
      s->rb_state.holder.store(me);
      s->parent_holder.store(me);
      s->child_checked.store(0);
      if (flags & kPrivateHeld)
        if (int r = onspin_mutex_lock(&priv[0]))
          return fail("forking thread", failed("private lock failed", r, &priv[0]));
    }
    const pid_t pid = start(h, flags, argv.data(), envp.data());
    if (flags & kPrivateHeld) onspin_mutex_unlock(&priv[0]);
    if (pid < 0) return fail(std::string("cannot start a child: ") + strerror(errno));
    ++forks[static_cast<int>(h)];

    int status = 0;
    bool reaped = false, reported = false;
    const int64_t until = now_ns() + 4 * kLockTimeoutMs * 1000000;
    if (flags & kParentHolds) {
      while (!s->child_checked.load() && now_ns() < until &&
             !(reaped = waitpid(pid, &status, WNOHANG) == pid))
        usleep(200);
      // A child that failed its checks comes first: what follows is its effect.
      if (reaped && (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
        fail(child_message(pid, h, flags, status));
        reported = true;
      }
      // Still inside both sections: had the child released a lock and
      // someone entered, the holders would say so.
      if (s->ps_state.holder.load() != me || s->rb_state.holder.load() != me)
        fail("forking thread: another entered its section while a child checked the locks it "
             "holds");
      s->ps_state.holder.store(0);
      s->rb_state.holder.store(0);
      if (int r = onspin_mutex_unlock(&s->rb))
        fail("forking thread",
             failed("its unlock of rb after the child's checks failed", r, &s->rb));
      if (int r = onspin_mutex_unlock(&s->ps))
        fail("forking thread",
             failed("its unlock of ps after the child's checks failed", r, &s->ps));
    }
    while (!reaped && now_ns() < until) {
      if (waitpid(pid, &status, WNOHANG) == pid) {
        reaped = true;
        break;
      }
      if (check c = any_section(rng, me)) {
        fail("forking thread", c);
        break;
      }
    }
    if (!reaped) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return fail(std::string(how_name(h)) + " child did not finish in 20 s");
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      if (!reported) fail(child_message(pid, h, flags, status));
      return;
    }
    if (flags & kDieHolding) {
      s->rb_deaths.fetch_add(1);
      // The next lock of rb in this process must report the death.
      if (check c = section_rb(s, me)) fail("forking thread, after a child died holding rb", c);
    }
  }

  void forker(const std::vector<how> &kinds) {
    std::mt19937 rng(12345);
    const int64_t end = now_ns() + kMaxNs;
    for (int i = 0; i < kMaxForks && !stop && now_ns() < end; ++i) {
      const how h = kinds[i % kinds.size()];
      int flags = 0;
      switch ((i / kinds.size()) % 3) {
      case 1:
        flags = kDieHolding;
        break;
      case 2:
        flags = kParentHolds | (h == how::fork ? kPrivateHeld : 0);
        break;
      }
      one_child(rng, h, flags);
    }
    stop = true;
  }

  void run(const std::vector<how> &kinds) {
    fd = memfd_create("onspin-fork-stress", 0); // no CLOEXEC: exec'd children map it
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, sizeof(shared)), 0);
    void *p = mmap(nullptr, sizeof(shared), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ASSERT_NE(p, MAP_FAILED);
    s = new (p) shared();
    onspin_mutexattr_t a;
    onspin_mutexattr_init(&a);
    onspin_mutexattr_setpshared(&a, ONSPIN_PROCESS_SHARED);
    ASSERT_EQ(onspin_mutex_init(&s->ps, &a), 0);
    onspin_mutexattr_setrobust(&a, ONSPIN_MUTEX_ROBUST);
    ASSERT_EQ(onspin_mutex_init(&s->rb, &a), 0);
    for (onspin_mutex_t &m : priv)
      ASSERT_EQ(onspin_mutex_init(&m, nullptr), 0);

    // Chosen before any thread runs: a _Fork() child forked while another
    // thread is still in the oracle's one-time choice (std::call_once) waits
    // for it for ever, which is not what this test is about.
    const char *oracle = onspin_oracle_name();

    constexpr int kThreads = 3;
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i)
      threads.emplace_back([this, i] { hammer(i + 1); });
    std::thread forking([&] { forker(kinds); });
    forking.join();
    for (std::thread &t : threads)
      t.join();

    // A death not reported yet goes to this lock.
    if (failures.empty())
      if (check c = section_rb(s, self_tid())) fail("final lock", c);
    for (const std::string &f : failures)
      ADD_FAILURE() << f;
    printf("fork stress (oracle %s): %d fork(), %d _Fork(), %d vfork()+exec children; %" PRIu64
           " robust deaths, %" PRIu64 " EOWNERDEAD; %" PRIu64 " ps, %" PRIu64 " rb, %" PRIu64
           " private sections\n",
           oracle, forks[0], forks[1], forks[2], s->rb_deaths.load(), s->rb_reports.load(),
           s->ps_state.done.load(), s->rb_state.done.load(),
           priv_state[0].done.load() + priv_state[1].done.load());
    if (failures.empty()) {
      for (const guarded *g : {&s->ps_state, &s->rb_state, &priv_state[0], &priv_state[1]})
        EXPECT_EQ(g->counter.load(), 2 * static_cast<int64_t>(g->done.load()));
      EXPECT_EQ(s->rb_reports.load(), s->rb_deaths.load());
      for (how h : kinds)
        EXPECT_GT(forks[static_cast<int>(h)], 0) << how_name(h);
    }
    munmap(s, sizeof(shared));
    close(fd);
  }
};

// ONSPIN_FORK_STRESS_KINDS (e.g. "_Fork" or "fork,vfork") narrows the rotation
// to study one way of starting children.
std::vector<how> kinds_from_env(std::vector<how> all) {
  const char *v = getenv("ONSPIN_FORK_STRESS_KINDS");
  if (v == nullptr || *v == 0) return all;
  std::vector<how> chosen;
  const std::string list = std::string(",") + v + ",";
  for (how h : all) {
    const char *name = h == how::fork              ? ",fork,"
                       : h == how::underscore_fork ? ",_Fork,"
                                                   : ",vfork,";
    if (list.find(name) != std::string::npos) chosen.push_back(h);
  }
  return chosen.empty() ? all : chosen;
}

} // namespace

TEST(ForkStress, ThreadsLockWhileForkUnderscoreForkAndVforkExecChildrenLockToo) {
#ifdef PROCESS_TESTS_TSAN
  GTEST_SKIP() << "TSan cannot follow fork() or _Fork() of a threaded process: the child can "
                  "inherit TSan runtime locks held by the parent's other threads and hang (seen "
                  "here: fork() children hung in 2 of 3 runs); ForkStress.VforkExecChildrenOnly "
                  "runs under TSan";
#endif
  fork_stress t;
  t.run(kinds_from_env({how::fork, how::underscore_fork, how::vfork_exec}));
}

// For TSan: an exec'd child is a fresh process, which TSan handles; the test
// above covers vfork()+exec elsewhere.
TEST(ForkStress, VforkExecChildrenOnly) {
#ifndef PROCESS_TESTS_TSAN
  GTEST_SKIP() << "outside TSan, ForkStress.ThreadsLockWhileForkUnderscoreForkAndVforkExecChildren"
                  "LockToo runs these children among the others";
#endif
  fork_stress t;
  t.run({how::vfork_exec});
}
