// Chaos across processes: participants hammer a robust and a non-robust
// process-shared mutex and a producer/consumer queue with two shared condition
// variables, while the controller (this process) SIGKILLs random participants
// and starts new ones.
//
// The controller never kills a participant that holds the non-robust mutex
// (POSIX lets that wedge it), and knows so exactly: it stops the victim first
// and reads the lock word. Everything else is fair game, waiters above all: a
// lock handed to a waiter that then dies must not be wedged. Victims: random
// participants, the robust lock's owner, waiters for the non-robust lock
// (preferably one woken while the word names no owner, as at a hand-off) and
// condition waiters. After the killing, a calm phase longer than the progress
// bound shows a lock wedged by the last kills.
//
// Checked: mutual exclusion; progress (every participant, and the whole, finish
// an iteration within kProgressBoundNs); EOWNERDEAD exactly when the robust
// lock's owner was killed holding it; a broadcast wakes every waiter within
// kWakeBoundNs; the final counts and both locks usable at the end.
//
// ONSPIN_CHAOS_SEED repeats a run (the seed is printed); ONSPIN_CHAOS_SECONDS
// (default 10) sets the length of the killing phase.
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <csignal>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <gtest/gtest.h>
#include <onspin/onspin.h>
#include <random>
#include <string>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/test_support.hpp"

using namespace onspin::test;

namespace {

constexpr int kSlots = 6;
constexpr int kMaxKills = 600;
constexpr int kCapacity = 2;                     // queue slots
constexpr uint64_t kRing = 1024;                 // broadcast times remembered
constexpr int64_t kProgressBoundNs = 5000000000; // one iteration, at most
constexpr int64_t kWakeBoundNs = 1500000000;     // broadcast to return from the wait
constexpr long kCondTimeoutMs = 2500;            // > kWakeBoundNs: a lost wake-up shows
constexpr uint32_t kOwnerMask = 0x3fffffff;      // onspin.h: owner TID bits of `word`
static_assert(std::atomic<int64_t>::is_always_lock_free, "atomics shared between processes");

int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

// What a participant is doing, published for the controller.
enum phase : int32_t {
  idle,
  want_nr,   // in onspin_mutex_lock(nr): killable unless the word names it
  in_nr,     // holds nr, or is inside its unlock: never killed
  cond_wait, // in a timed wait with nr: killable only while asleep in the kernel
  bcast_out, // broadcasting outside the lock: not killed (its wake-up would be lost)
  want_rb,
  in_rb, // robust: always killable
};
const char *phase_name(int32_t p) {
  static const char *const names[] = {"idle",      "want_nr", "in_nr", "cond_wait",
                                      "bcast_out", "want_rb", "in_rb"};
  return p >= 0 && p <= in_rb ? names[p] : "?";
}

struct slot {
  std::atomic<int32_t> pid;
  std::atomic<int32_t> phase;
  std::atomic<int64_t> heartbeat_ns;
  std::atomic<uint64_t> iterations;
  char failure[256]; // why the participant exited with status 1
};

// State each mutex guards is updated in two non-atomic steps (load, then
// store), so two owners at once lose updates and break `counter == 2 * done`.
struct guarded {
  std::atomic<int64_t> counter;
  std::atomic<int32_t> holder; // pid inside the section, else 0
  std::atomic<uint64_t> done;
};

struct shared {
  onspin_mutex_t nr; // process-shared
  onspin_mutex_t rb; // process-shared, robust
  onspin_cond_t not_empty, not_full;
  guarded nr_state; // under nr, as is the queue:
  std::atomic<int32_t> items;
  std::atomic<uint64_t> produced, consumed, broadcasts;
  std::atomic<int64_t> broadcast_at[kRing]; // 0: not yet sent
  guarded rb_state;                         // under rb
  std::atomic<int32_t> rb_dead_owner;       // set by the controller before killing rb's owner
  std::atomic<uint64_t> owner_dead_reports;
  std::atomic<int32_t> nkilled;
  std::atomic<int32_t> killed[kMaxKills]; // every pid the controller killed
  std::atomic<int32_t> stop;
  std::atomic<int64_t> last_iteration_ns; // by anyone: respawns cannot hide a wedged lock
  slot slots[kSlots];
};

uint32_t owner_of(const onspin_mutex_t &m) {
  return __atomic_load_n(&m.word, __ATOMIC_SEQ_CST) & kOwnerMask;
}

// ---------------------------------------------------------------- participant

struct participant {
  shared *s;
  slot &me;
  int32_t pid;
  std::mt19937 rng;

  [[noreturn]] void fail(const char *fmt, ...) __attribute__((format(printf, 2, 3))) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(me.failure, sizeof me.failure, fmt, ap);
    va_end(ap);
    _exit(1);
  }

  void set(phase p) { me.phase.store(p); }

  // The two-step update, with holder checks on both sides; hold_us > 0
  // sleeps between the steps (robust: an owner then often dies mid-update).
  void section(guarded &g, const char *lock, unsigned hold_us = 0) {
    if (int32_t h = g.holder.load()) fail("%s: entered while pid %d is inside", lock, h);
    g.holder.store(pid);
    int64_t c = g.counter.load(std::memory_order_relaxed);
    burn(static_cast<int>(rng() % 200));
    g.counter.store(c + 1, std::memory_order_relaxed);
    if (hold_us) usleep(hold_us);
    c = g.counter.load(std::memory_order_relaxed);
    g.counter.store(c + 1, std::memory_order_relaxed);
    g.done.fetch_add(1); // the commit point: a death after it leaves counter == 2 * done
    if (int32_t h = g.holder.load(); h != pid) fail("%s: pid %d entered while inside", lock, h);
    g.holder.store(0);
  }

  void lock_nr() {
    set(want_nr);
    if (int r = onspin_mutex_lock(&s->nr)) fail("non-robust lock returned %d", r);
    set(in_nr);
  }
  void unlock_nr() {
    if (int r = onspin_mutex_unlock(&s->nr)) fail("non-robust unlock returned %d", r);
    set(idle);
  }

  bool killed_by_controller(int32_t p) {
    const int n = s->nkilled.load();
    for (int i = 0; i < n; ++i)
      if (s->killed[i].load() == p) return true;
    return false;
  }

  void robust_iteration() {
    set(want_rb);
    const int r = onspin_mutex_lock(&s->rb);
    set(in_rb);
    guarded &g = s->rb_state;
    const int32_t dead = s->rb_dead_owner.load();
    if (r == EOWNERDEAD) {
      if (dead == 0) fail("robust lock: EOWNERDEAD, but no owner was killed holding it");
      if (!killed_by_controller(dead)) fail("robust lock: dead owner %d was never killed", dead);
      if (int32_t h = g.holder.load(); h != 0 && h != dead)
        fail("robust lock: EOWNERDEAD for %d, but the section's holder was %d", dead, h);
      g.counter.store(2 * static_cast<int64_t>(g.done.load())); // undo the half-done update
      g.holder.store(0);
      s->rb_dead_owner.store(0);
      s->owner_dead_reports.fetch_add(1);
      if (int c = onspin_mutex_consistent(&s->rb)) fail("consistent returned %d", c);
    } else if (r != 0) {
      fail("robust lock returned %d", r);
    } else {
      if (dead != 0) fail("robust lock returned 0; owner %d was killed holding it", dead);
      if (g.counter.load() != 2 * static_cast<int64_t>(g.done.load()))
        fail("robust lock: counter %" PRId64 " != 2 * done %" PRIu64, g.counter.load(),
             g.done.load());
    }
    section(g, "robust lock", rng() % 4 == 0 ? 500 + rng() % 1500 : 0);
    if (int u = onspin_mutex_unlock(&s->rb)) fail("robust unlock returned %d", u);
    set(idle);
  }

  // A broadcast must wake every waiter that was waiting when it was sent.
  // Measured from the first broadcast after `seen`, or from the oldest one the
  // ring still holds: a later one, so lateness is never overestimated (nor
  // by a slot being rewritten as we read it).
  void check_woken_in_time(uint64_t seen) {
    const uint64_t last = s->broadcasts.load();
    if (last == seen) return;
    uint64_t first = seen + 1;
    if (last >= kRing && last - kRing + 2 > first) first = last - kRing + 2;
    const int64_t at = s->broadcast_at[first % kRing].load();
    const int64_t late = now_ns() - at;
    if (at != 0 && late > kWakeBoundNs)
      fail("condition wait returned %" PRId64 " ms after broadcast #%" PRIu64
           " (lost or stranded wake-up)",
           late / 1000000, first);
  }

  // Waits on c with nr held until pred() or the deadline; true if pred().
  // At most two participants wait at once, so that the rest keep the locks
  // busy.
  template <class Pred> bool wait_for(onspin_cond_t *c, Pred pred) {
    const timespec deadline = in_ms(kCondTimeoutMs);
    while (!pred()) {
      int waiting = 0;
      for (slot &other : s->slots)
        waiting += &other != &me && other.phase.load() == cond_wait;
      if (waiting >= 2) return false;
      const uint64_t seen = s->broadcasts.load();
      set(cond_wait);
      const int r = onspin_cond_timedwait(c, &s->nr, CLOCK_MONOTONIC, &deadline);
      set(in_nr);
      if (r != 0 && r != ETIMEDOUT) fail("cond_timedwait returned %d", r);
      if (c == &s->not_empty) check_woken_in_time(seen); // only not_empty is broadcast
      if (r == ETIMEDOUT) return pred();
    }
    return true;
  }

  void consume() {
    lock_nr();
    const bool got = wait_for(&s->not_empty, [&] { return s->items.load() > 0; });
    section(s->nr_state, "non-robust lock");
    if (got) {
      const int32_t n = s->items.load();
      if (n < 1 || n > kCapacity) fail("queue holds %d items", n);
      s->items.store(n - 1);
      s->consumed.fetch_add(1);
      onspin_cond_signal(&s->not_full);
    }
    unlock_nr();
  }

  void produce() {
    lock_nr();
    const bool room = wait_for(&s->not_full, [&] { return s->items.load() < kCapacity; });
    section(s->nr_state, "non-robust lock");
    uint64_t outside = 0; // broadcast to send after unlocking
    if (room) {
      const int32_t n = s->items.load();
      if (n < 0 || n >= kCapacity) fail("queue holds %d items", n);
      s->items.store(n + 1);
      s->produced.fetch_add(1);
      switch (rng() % 3) {
      case 0:
        onspin_cond_signal(&s->not_empty);
        break;
      case 1: { // holding the lock (a requeueing broadcast moves waiters onto nr)
        const uint64_t b = s->broadcasts.load() + 1;
        s->broadcast_at[b % kRing].store(now_ns());
        s->broadcasts.store(b);
        onspin_cond_broadcast(&s->not_empty);
        break;
      }
      default: // after unlocking (POSIX allows both)
        outside = s->broadcasts.load() + 1;
        s->broadcast_at[outside % kRing].store(0);
        s->broadcasts.store(outside);
      }
    }
    if (!outside) return unlock_nr();
    if (int r = onspin_mutex_unlock(&s->nr)) fail("non-robust unlock returned %d", r);
    set(bcast_out);
    s->broadcast_at[outside % kRing].store(now_ns());
    onspin_cond_broadcast(&s->not_empty);
    set(idle);
  }

  [[noreturn]] void run() {
    while (!s->stop.load()) {
      const unsigned pick = rng() % 10;
      if (pick < 5) {
        lock_nr();
        // Sometimes held longer, so that waiters queue up asleep and unlocks
        // hand the lock over.
        section(s->nr_state, "non-robust lock", rng() % 8 == 0 ? 100 + rng() % 400 : 0);
        unlock_nr();
      } else if (pick < 7) {
        robust_iteration();
      } else if (pick == 7) {
        consume();
      } else if (pick == 8) {
        produce();
      } else {
        usleep(rng() % 200); // let the others contend without us
      }
      me.iterations.fetch_add(1);
      me.heartbeat_ns.store(now_ns());
      s->last_iteration_ns.store(me.heartbeat_ns.load());
    }
    _exit(0);
  }
};

// Maps the region again at an address of this process's own: a condition
// variable must never use one process's mutex address in another.
shared *map_elsewhere(int fd, std::mt19937 &rng) {
  const size_t pad = (1 + rng() % 64) * 4096;
  if (mmap(nullptr, pad, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) == MAP_FAILED) _exit(3);
  void *p = mmap(nullptr, sizeof(shared), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) _exit(3);
  return static_cast<shared *>(p);
}

// ----------------------------------------------------------------- controller

// True if pid (stopped) is blocked in, or just returned from, a futex wait:
// then it is past the unlock inside onspin_cond_timedwait.
bool in_futex_wait(pid_t pid) {
  char path[64], buf[256] = {};
  snprintf(path, sizeof path, "/proc/%d/syscall", pid);
  FILE *f = fopen(path, "r");
  if (!f) return false;
  const bool got = fgets(buf, sizeof buf, f) != nullptr;
  fclose(f);
  if (!got) return false;
  long nr = -1;
  unsigned long uaddr = 0, op = 0;
  if (sscanf(buf, "%ld %lx %lx", &nr, &uaddr, &op) < 1) return false;
  if (nr == SYS_futex) {
    const unsigned long cmd = op & 127; // without PRIVATE and CLOCK_REALTIME
    return cmd == 0 /* WAIT */ || cmd == 9 /* WAIT_BITSET */;
  }
  return nr == 449 /* futex_waitv */ || nr == 455 /* futex_wait */;
}

std::string read_proc(pid_t pid, const char *what) {
  char path[64], buf[256] = {};
  snprintf(path, sizeof path, "/proc/%d/%s", pid, what);
  FILE *f = fopen(path, "r");
  if (!f) return "?";
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  std::string s(buf, n);
  while (!s.empty() && s.back() == '\n')
    s.pop_back();
  return s;
}

long env_long(const char *name, long fallback) {
  const char *v = getenv(name);
  return v && *v ? strtol(v, nullptr, 0) : fallback;
}

struct controller {
  int fd = -1;
  shared *s = nullptr;
  std::mt19937 rng;
  uint32_t seed;
  int spawned = 0;
  std::string failure; // first failure; ends the run
  struct {
    int attempts = 0, spared = 0, kills = 0, rb_owner = 0, nr_waiter = 0, cond_waiter = 0,
        nr_ownerless = 0;
  } n;

  void fail(const std::string &why) {
    if (failure.empty()) failure = why + "\n" + dump();
  }

  // The condition variables' layout is the library's: print their raw words.
  static std::string raw_words(const onspin_cond_t &c) {
    uint32_t w[sizeof(onspin_cond_t) / 4];
    memcpy(w, &c, sizeof w);
    std::string out;
    for (uint32_t x : w) {
      char b[12];
      snprintf(b, sizeof b, " %08x", x);
      out += b;
    }
    return out;
  }

  std::string dump() {
    char line[512];
    std::string out;
    snprintf(line, sizeof line, "seed %u; nr word 0x%08x, rb word 0x%08x; items %d\n", seed,
             __atomic_load_n(&s->nr.word, __ATOMIC_SEQ_CST),
             __atomic_load_n(&s->rb.word, __ATOMIC_SEQ_CST), s->items.load());
    out += line;
    out += "  not_empty:" + raw_words(s->not_empty) + "; not_full:" + raw_words(s->not_full) + "\n";
    const int64_t now = now_ns();
    for (slot &sl : s->slots) {
      const pid_t p = sl.pid.load();
      snprintf(line, sizeof line,
               "  pid %d: %s, heartbeat %" PRId64 " ms ago, %" PRIu64
               " iterations, wchan %s, syscall %s\n",
               p, phase_name(sl.phase.load()), (now - sl.heartbeat_ns.load()) / 1000000,
               sl.iterations.load(), read_proc(p, "wchan").c_str(),
               read_proc(p, "syscall").c_str());
      out += line;
    }
    return out;
  }

  void spawn(int i) {
    slot &sl = s->slots[i];
    sl.phase = idle;
    sl.iterations = 0;
    sl.heartbeat_ns = now_ns();
    const uint32_t child_seed = seed * 2654435761u + static_cast<uint32_t>(++spawned);
    const pid_t pid = fork();
    if (pid == 0) {
      std::mt19937 crng(child_seed);
      shared *mine = map_elsewhere(fd, crng);
      munmap(s, sizeof(shared));
      participant{mine, mine->slots[i], static_cast<int32_t>(getpid()), crng}.run();
    }
    if (pid < 0) return fail(std::string("fork: ") + strerror(errno));
    sl.pid = pid;
  }

  int slot_of(pid_t pid) {
    for (int i = 0; i < kSlots; ++i)
      if (s->slots[i].pid.load() == pid) return i;
    return -1;
  }

  // A participant ended on its own: it found a broken invariant.
  void exited(int i, int status) {
    slot &sl = s->slots[i];
    char why[512];
    if (WIFEXITED(status))
      snprintf(why, sizeof why, "participant %d exited with %d: %s", sl.pid.load(),
               WEXITSTATUS(status), sl.failure);
    else
      snprintf(why, sizeof why, "participant %d died of signal %d", sl.pid.load(),
               WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    sl.pid = 0;
    fail(why);
  }

  void reap_unexpected() {
    int status;
    pid_t p;
    while ((p = waitpid(-1, &status, WNOHANG)) > 0)
      if (int i = slot_of(p); i >= 0) exited(i, status);
  }

  void check_progress() {
    const int64_t now = now_ns();
    if (const int64_t age = now - s->last_iteration_ns.load(); age > kProgressBoundNs)
      return fail("no progress: no participant finished an iteration for " +
                  std::to_string(age / 1000000) + " ms");
    for (slot &sl : s->slots) {
      const int64_t age = now - sl.heartbeat_ns.load();
      if (sl.pid.load() > 0 && age > kProgressBoundNs)
        return fail("no progress: participant " + std::to_string(sl.pid.load()) + " (" +
                    phase_name(sl.phase.load()) + ") finished no iteration for " +
                    std::to_string(age / 1000000) + " ms");
    }
  }

  // Stops the participant in slot i, kills it unless it holds nr (or might be
  // inside nr's unlock), and starts another in its place.
  void try_kill(int i) {
    slot &sl = s->slots[i];
    const pid_t pid = sl.pid.load();
    if (pid <= 0) return;
    ++n.attempts;
    int status;
    kill(pid, SIGSTOP);
    if (waitpid(pid, &status, WUNTRACED) != pid) return fail("waitpid(WUNTRACED) failed");
    if (!WIFSTOPPED(status)) return exited(i, status);
    // Stopped: its phase and its claim on either word cannot change now.
    const int32_t ph = sl.phase.load();
    bool spare = owner_of(s->nr) == static_cast<uint32_t>(pid) || ph == in_nr || ph == bcast_out;
    if (!spare && ph == cond_wait) spare = !in_futex_wait(pid);
    if (spare) {
      ++n.spared;
      kill(pid, SIGCONT);
      return;
    }
    const int k = s->nkilled.load();
    if (k >= kMaxKills) {
      kill(pid, SIGCONT);
      return;
    }
    s->killed[k].store(pid);
    s->nkilled.store(k + 1);
    if (owner_of(s->rb) == static_cast<uint32_t>(pid)) {
      s->rb_dead_owner.store(pid);
      ++n.rb_owner;
    }
    n.nr_waiter += ph == want_nr;
    n.cond_waiter += ph == cond_wait;
    n.nr_ownerless += ph == want_nr && owner_of(s->nr) != 0 && !is_participant(owner_of(s->nr));
    ++n.kills;
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    sl.pid = 0;
    spawn(i);
  }

  int random_slot() { return static_cast<int>(rng() % kSlots); }

  // A slot whose participant is in phase p, else a random one.
  int slot_in(phase p) {
    int candidates[kSlots], c = 0;
    for (int i = 0; i < kSlots; ++i)
      if (s->slots[i].phase.load() == p) candidates[c++] = i;
    return c ? candidates[rng() % c] : random_slot();
  }

  bool is_participant(uint32_t owner) {
    for (slot &sl : s->slots)
      if (static_cast<uint32_t>(sl.pid.load()) == owner) return true;
    return false;
  }

  // Waits up to 3 ms for nr's word to name no participant while not free (a
  // lock released to its waiters), then picks a waiter that is not asleep,
  // probably the one woken to take it: the moment a dying waiter can wedge
  // a lock.
  int nr_waiter_at_handoff() {
    const int64_t until = now_ns() + 3000000;
    while (now_ns() < until) {
      const uint32_t owner = owner_of(s->nr);
      if (owner != 0 && !is_participant(owner)) break;
    }
    int awake[kSlots], c = 0;
    for (int i = 0; i < kSlots; ++i)
      if (s->slots[i].phase.load() == want_nr) {
        const std::string st = read_proc(s->slots[i].pid.load(), "stat");
        const size_t paren = st.rfind(')');
        if (paren != std::string::npos && paren + 2 < st.size() && st[paren + 2] == 'R')
          awake[c++] = i;
      }
    return c ? awake[rng() % c] : slot_in(want_nr);
  }

  void choose_and_kill() {
    switch (rng() % 7) {
    case 0:
      return try_kill(random_slot());
    case 1:
    case 2: { // the robust lock's owner, within 3 ms
      const int64_t until = now_ns() + 3000000;
      int i = -1;
      while (i < 0 && now_ns() < until)
        if (const uint32_t owner = owner_of(s->rb)) i = slot_of(static_cast<pid_t>(owner));
      return try_kill(i >= 0 ? i : slot_in(in_rb));
    }
    case 3:
      return try_kill(slot_in(want_nr));
    case 4:
    case 5:
      return try_kill(nr_waiter_at_handoff());
    default:
      return try_kill(slot_in(cond_wait));
    }
  }

  void stop_all() {
    s->stop = 1;
    const int64_t until = now_ns() + kProgressBoundNs + 1000000000;
    for (int i = 0; i < kSlots; ++i) {
      slot &sl = s->slots[i];
      const pid_t pid = sl.pid.load();
      if (pid <= 0) continue;
      int status = 0;
      pid_t r;
      while ((r = waitpid(pid, &status, WNOHANG)) == 0 && now_ns() < until)
        usleep(1000);
      if (r == pid) {
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) exited(i, status);
        sl.pid = 0;
        continue;
      }
      fail("participant " + std::to_string(pid) + " did not stop (" + phase_name(sl.phase) + ")");
    }
    for (slot &sl : s->slots) // those still stuck, after the dump above
      if (pid_t pid = sl.pid.exchange(0); pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
  }

  // With every participant gone: both locks usable, the counts exact.
  void final_checks() {
    if (int r = onspin_mutex_trylock(&s->nr))
      return fail("non-robust lock unusable at the end: trylock returned " + std::to_string(r));
    const guarded &g = s->nr_state;
    if (g.counter.load() != 2 * static_cast<int64_t>(g.done.load()))
      fail("non-robust lock: counter " + std::to_string(g.counter.load()) + " != 2 * " +
           std::to_string(g.done.load()) + " (mutual exclusion broken)");
    const uint64_t queued = s->produced.load() - s->consumed.load();
    if (static_cast<uint64_t>(s->items.load()) != queued)
      fail("queue holds " + std::to_string(s->items.load()) +
           " items, produced - consumed = " + std::to_string(queued));
    onspin_mutex_unlock(&s->nr);

    const timespec deadline = in_ms(2000);
    const int r = onspin_mutex_timedlock(&s->rb, CLOCK_MONOTONIC, &deadline);
    const int32_t dead = s->rb_dead_owner.load();
    if (r != (dead ? EOWNERDEAD : 0))
      return fail("robust lock at the end returned " + std::to_string(r) + ", last dead owner " +
                  std::to_string(dead));
    guarded &rg = s->rb_state;
    if (r == EOWNERDEAD) {
      rg.counter.store(2 * static_cast<int64_t>(rg.done.load()));
      s->owner_dead_reports.fetch_add(1);
      onspin_mutex_consistent(&s->rb);
    }
    if (rg.counter.load() != 2 * static_cast<int64_t>(rg.done.load()))
      fail("robust lock: counter " + std::to_string(rg.counter.load()) + " != 2 * " +
           std::to_string(rg.done.load()));
    onspin_mutex_unlock(&s->rb);
  }
};

} // namespace

TEST(Chaos, ParticipantsKilledAroundSharedLocksAndConditions) {
  controller c;
  c.seed = static_cast<uint32_t>(env_long("ONSPIN_CHAOS_SEED", std::random_device{}()));
  const long seconds = env_long("ONSPIN_CHAOS_SECONDS", 10);
  // Chosen once here, so that the participants inherit it.
  printf("chaos: seed %u (ONSPIN_CHAOS_SEED=%u repeats it), %ld s, oracle %s\n", c.seed, c.seed,
         seconds, onspin_oracle_name());
  fflush(stdout);
  c.rng.seed(c.seed);

  c.fd = memfd_create("onspin-chaos", MFD_CLOEXEC);
  ASSERT_GE(c.fd, 0);
  ASSERT_EQ(ftruncate(c.fd, sizeof(shared)), 0);
  void *p = mmap(nullptr, sizeof(shared), PROT_READ | PROT_WRITE, MAP_SHARED, c.fd, 0);
  ASSERT_NE(p, MAP_FAILED);
  shared *s = c.s = new (p) shared();
  onspin_mutexattr_t ma;
  onspin_mutexattr_init(&ma);
  onspin_mutexattr_setpshared(&ma, ONSPIN_PROCESS_SHARED);
  ASSERT_EQ(onspin_mutex_init(&s->nr, &ma), 0);
  onspin_mutexattr_setrobust(&ma, ONSPIN_MUTEX_ROBUST);
  ASSERT_EQ(onspin_mutex_init(&s->rb, &ma), 0);
  onspin_condattr_t ca;
  onspin_condattr_init(&ca);
  onspin_condattr_setpshared(&ca, ONSPIN_PROCESS_SHARED);
  ASSERT_EQ(onspin_cond_init(&s->not_empty, &ca), 0);
  ASSERT_EQ(onspin_cond_init(&s->not_full, &ca), 0);

  s->last_iteration_ns = now_ns();
  for (int i = 0; i < kSlots; ++i)
    c.spawn(i);
  // Kills for `seconds`, then none for longer than the progress bound: a
  // lock wedged by one of the last kills must show too.
  const int64_t chaos_end = now_ns() + seconds * 1000000000;
  const int64_t end = chaos_end + kProgressBoundNs + 1000000000;
  while (c.failure.empty() && now_ns() < end) {
    usleep(2000 + c.rng() % 30000); // a random moment
    c.reap_unexpected();
    c.check_progress();
    if (c.failure.empty() && now_ns() < chaos_end && s->nkilled.load() < kMaxKills)
      c.choose_and_kill();
  }
  c.stop_all();
  if (c.failure.empty()) c.final_checks();

  printf("chaos: %d kill attempts, %d spared (holding or unlocking the non-robust lock), %d "
         "kills: %d robust owners, %d non-robust waiters (%d while its word named no "
         "participant), %d condition waiters; %" PRIu64 " EOWNERDEAD reports; %" PRIu64
         " + %" PRIu64 " sections, %" PRIu64 " items moved, %" PRIu64 " broadcasts\n",
         c.n.attempts, c.n.spared, c.n.kills, c.n.rb_owner, c.n.nr_waiter, c.n.nr_ownerless,
         c.n.cond_waiter, s->owner_dead_reports.load(), s->nr_state.done.load(),
         s->rb_state.done.load(), s->consumed.load(), s->broadcasts.load());
  EXPECT_TRUE(c.failure.empty()) << c.failure;
  if (c.failure.empty()) {
    EXPECT_GT(c.n.kills, 0) << "the controller killed nobody";
    EXPECT_GT(s->consumed.load(), 0u) << "the queue never moved";
  }
  munmap(s, sizeof(shared));
  close(c.fd);
}
