#include "stats/stats.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <mutex>
#include <onspin/onspin.h>
#include <pthread.h>

#include "platform/internal_lock.hpp"

namespace onspin::detail {
namespace {

constexpr int kStats = static_cast<int>(stat::count_);
constexpr int kPublicStats = static_cast<int>(stat::public_count_);
static_assert(sizeof(onspin_stats) == kPublicStats * sizeof(uint64_t), "one counter per stat");

// One thread's counters. A plain initial-exec TLS block: counting is a load
// and a store at a fixed %fs offset, with no TLS wrapper or __tls_get_addr
// call on the slow paths. Only the owning thread writes `count`; readers load
// it atomically (relaxed), under the registry lock.
struct thread_block {
  uint64_t count[kStats];
  uint64_t base[kStats]; // value at the last reset (registry lock)
  thread_block *prev;
  thread_block *next;
  bool registered;
  // Retired at thread exit. Later counts (glibc frees the thread's buffers
  // after the key destructors, and a free may lock) go straight to the
  // registry: registering the block again would leave a freed block on the
  // list, and the next thread on the same stack would link it to itself.
  bool exited;
};

__thread thread_block tls_block __attribute__((tls_model("initial-exec")));

// Registry of live threads' blocks plus the totals of exited threads.
// Constant-initialised, with a lock of its own: it is used inside onspin's
// slow paths, which under the LD_PRELOAD interposer may run inside malloc
// or before any constructor.
struct registry {
  internal_lock lock;
  thread_block *head = nullptr;
  std::array<uint64_t, kStats> retired{};
  bool ready = false;         // exit_key created, atfork handlers installed
  bool per_process = false;   // a fork child does not inherit its parent's counts
  pthread_key_t exit_key = 0; // its destructor retires a thread's block
};
constinit registry the_registry; // no dynamic initialiser to run after its users

void retire_locked(registry &r, thread_block *b) {
  for (int i = 0; i < kStats; ++i)
    r.retired[i] += __atomic_load_n(&b->count[i], __ATOMIC_RELAXED) - b->base[i];
  if (b->prev)
    b->prev->next = b->next;
  else
    r.head = b->next;
  if (b->next) b->next->prev = b->prev;
  b->prev = b->next = nullptr;
  b->registered = false;
}

registry &reg();

void retire_at_thread_exit(void *block) {
  std::lock_guard<internal_lock> g(reg().lock);
  auto *b = static_cast<thread_block *>(block);
  retire_locked(reg(), b);
  b->exited = true;
}

[[gnu::cold, gnu::noinline]] void count_after_exit(stat s, uint64_t n) {
  std::lock_guard<internal_lock> g(reg().lock);
  reg().retired[static_cast<int>(s)] += n;
}

// fork(): hold the registry lock across it so the child never inherits it
// held; in the child, fold the blocks of threads that did not survive.
void prepare_fork();
void parent_after_fork();
void child_after_fork();

registry &reg() { return the_registry; }

// Under the registry lock. Neither call takes a pthread mutex.
void make_ready(registry &r) {
  if (r.ready) return;
  r.ready = true;
  pthread_key_create(&r.exit_key, retire_at_thread_exit);
  pthread_atfork(prepare_fork, parent_after_fork, child_after_fork);
}

void prepare_fork() { reg().lock.lock(); }
void parent_after_fork() { reg().lock.unlock(); }
void child_after_fork() {
  registry &r = reg();
  for (thread_block *b = r.head, *next; b; b = next) {
    next = b->next;
    if (b != &tls_block) retire_locked(r, b);
  }
  if (r.per_process) { // the child starts from zero
    r.retired.fill(0);
    thread_block &b = tls_block;
    for (int i = 0; i < kStats; ++i)
      b.base[i] = b.count[i];
  }
  r.lock.unlock();
}

[[gnu::cold, gnu::noinline]] void register_thread() {
  registry &r = reg();
  std::lock_guard<internal_lock> g(r.lock);
  make_ready(r);
  thread_block &b = tls_block;
  b.prev = nullptr;
  b.next = r.head;
  if (b.next) b.next->prev = &b;
  r.head = &b;
  b.registered = true;
  pthread_setspecific(r.exit_key, &b);
}

[[gnu::constructor]] void init_registry() {
  std::lock_guard<internal_lock> g(reg().lock);
  make_ready(reg());
}

} // namespace

void count(stat s, uint64_t n) noexcept {
  thread_block &b = tls_block;
  if (__builtin_expect(!b.registered, 0)) {
    if (b.exited) return count_after_exit(s, n);
    register_thread();
  }
  uint64_t &c = b.count[static_cast<int>(s)];
  __atomic_store_n(&c, __atomic_load_n(&c, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

} // namespace onspin::detail

using namespace onspin::detail;

// What onspin_stats_get filled before the struct grew (soname 0, version 0.1).
constexpr size_t kStatsSizeV01 = offsetof(onspin_stats, yields);

#undef onspin_stats_get
extern "C" int onspin_stats_get(struct onspin_stats *out) {
  return onspin_stats_read(out, kStatsSizeV01);
}

extern "C" int onspin_stats_read(struct onspin_stats *out, size_t size) {
  if (out == nullptr) return EINVAL;
  std::array<uint64_t, kStats> sum;
  {
    std::lock_guard<internal_lock> g(reg().lock);
    sum = reg().retired;
    for (thread_block *b = reg().head; b; b = b->next)
      for (int i = 0; i < kStats; ++i)
        sum[i] += __atomic_load_n(&b->count[i], __ATOMIC_RELAXED) - b->base[i];
  }
  std::memcpy(out, sum.data(), std::min(size, sizeof(*out)));
  // A program built with a later header, whose struct is longer, reads
  // zeros in the counters this library does not have.
  if (size > sizeof(*out))
    std::memset(reinterpret_cast<char *>(out) + sizeof(*out), 0, size - sizeof(*out));
  return 0;
}

void onspin::detail::count_per_process() noexcept {
  std::lock_guard<internal_lock> g(reg().lock);
  reg().per_process = true;
}

uint64_t onspin::detail::stat_total(stat s) noexcept {
  const int i = static_cast<int>(s);
  std::lock_guard<internal_lock> g(reg().lock);
  uint64_t sum = reg().retired[i];
  for (thread_block *b = reg().head; b; b = b->next)
    sum += __atomic_load_n(&b->count[i], __ATOMIC_RELAXED) - b->base[i];
  return sum;
}

extern "C" void onspin_stats_reset(void) {
  // Counters belong to their threads, which increment them without atomic
  // read-modify-write: a reset records a baseline instead of writing zeros.
  std::lock_guard<internal_lock> g(reg().lock);
  reg().retired.fill(0);
  for (thread_block *b = reg().head; b; b = b->next)
    for (int i = 0; i < kStats; ++i)
      b->base[i] = __atomic_load_n(&b->count[i], __ATOMIC_RELAXED);
}
