// Run inside and outside a child PID namespace by the bpf tests: checks that
// the oracle answers for the right threads. One thread holds a lock while
// busy, another holds one while asleep; the lock words' owner keys, looked up
// in the oracle's map, must read ON and OFF. Ordinary locks are keyed by root
// TIDs (which differ from gettid() in a namespace); robust locks by gettid().
// Exit 0 when every check holds; prints what it saw.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <onspin/onspin.h>
#include <sched.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

#include "oracle/oracle.hpp"

namespace {
uint32_t gettid_now() { return static_cast<uint32_t>(syscall(SYS_gettid)); }

// The reader and the busy thread on different CPUs: sharing one, the busy
// thread would truly be off its CPU whenever the reader reads.
void pin_to(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % std::max(1u, std::thread::hardware_concurrency()), &set);
  sched_setaffinity(0, sizeof set, &set);
}
} // namespace

int main() {
  std::printf("oracle=%s\nreason=%s\n", onspin_oracle_name(), onspin_oracle_reason());
  const auto &o = onspin::detail::current_oracle();
  if (o.kind.load() != onspin::detail::oracle_kind::bpf) return 3;
  onspin_mutex_t busy_lock = ONSPIN_MUTEX_INITIALIZER, sleep_lock = ONSPIN_MUTEX_INITIALIZER;
  std::atomic<uint32_t> busy_tid{0}, sleep_tid{0};
  std::atomic<bool> stop{false};
  pin_to(0);
  std::thread busy([&] {
    pin_to(1);
    onspin_mutex_lock(&busy_lock);
    busy_tid = gettid_now();
    // Busy, with a 20 us nap every 2 ms: some switches fire no event on this
    // kernel (after PID 1's threads), which leaves the next thread OFF until
    // it switches again; a thread that never switched would stay OFF.
    while (!stop) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2);
      while (!stop && std::chrono::steady_clock::now() < until) {
      }
      std::this_thread::sleep_for(std::chrono::microseconds(20));
    }
    onspin_mutex_unlock(&busy_lock);
  });
  std::thread sleeper([&] {
    onspin_mutex_lock(&sleep_lock);
    sleep_tid = gettid_now();
    while (!stop)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    onspin_mutex_unlock(&sleep_lock);
  });
  while (!busy_tid || !sleep_tid)
    std::this_thread::yield();
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  const uint32_t busy_key = busy_lock.word & 0x3fffffffu;
  const uint32_t sleep_key = sleep_lock.word & 0x3fffffffu;
  // A wrong key names an unrelated thread: reads ON about never. A right one
  // reads ON unless the machine preempts the busy thread, which a loaded
  // machine does, so: at least half the reads, best of three attempts.
  int busy_on = 0, sleep_off = 0;
  const int reads = 200;
  for (int attempt = 0; attempt < 3 && busy_on < reads / 2; ++attempt) {
    busy_on = sleep_off = 0;
    for (int i = 0; i < reads; ++i) {
      busy_on += busy_key < o.entries && onspin::detail::owner_on_cpu(o, o.kind.load(), busy_key) ==
                                             onspin::detail::owner_state::on;
      sleep_off += sleep_key < o.entries && o.slots[sleep_key] == 0;
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  stop = true;
  busy.join();
  sleeper.join();

  onspin_mutexattr_t a;
  onspin_mutexattr_init(&a);
  onspin_mutexattr_setrobust(&a, ONSPIN_MUTEX_ROBUST);
  onspin_mutex_t robust;
  onspin_mutex_init(&robust, &a);
  onspin_mutex_lock(&robust);
  const uint32_t robust_key = robust.word & 0x3fffffffu;
  onspin_mutex_unlock(&robust);

  std::printf("root_keys=%d busy: tid %u key %u ON %d/%d; asleep: tid %u key %u OFF %d/%d; "
              "robust key %u (gettid %u)\n",
              o.root_keys, busy_tid.load(), busy_key, busy_on, reads, sleep_tid.load(), sleep_key,
              sleep_off, reads, robust_key, gettid_now());
  const bool keys_ok = o.root_keys ? busy_key != busy_tid : busy_key == busy_tid;
  const bool ok =
      keys_ok && busy_on >= reads / 2 && sleep_off >= reads * 9 / 10 && robust_key == gettid_now();
  return ok ? 0 : 1;
}
