// Two classic designs written out, as the literature describes them.
#include <atomic>
#include <climits>
#include <cstdint>
#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "lock_api.hpp"

namespace bench {
namespace {

// Test-and-test-and-set with exponential backoff (Anderson; Mellor-Crummey
// and Scott): spins forever, never sleeps.
struct ttas_backoff {
  std::atomic<uint32_t> word{0};
  void lock() {
    unsigned backoff = 1;
    for (;;) {
      if (word.load(std::memory_order_relaxed) == 0 &&
          word.exchange(1, std::memory_order_acquire) == 0)
        return;
      for (unsigned i = 0; i < backoff; ++i)
        __builtin_ia32_pause();
      if (backoff < 1024) backoff *= 2;
    }
  }
  void unlock() { word.store(0, std::memory_order_release); }
};

// WebKit WTF::Lock / parking_lot style: try a bounded number of yields
// (WebKit: 40), then park on a futex. 0 free, 1 held, 2 held with parked.
struct yield_then_park {
  std::atomic<uint32_t> word{0};
  static long futex(std::atomic<uint32_t> *w, int op, uint32_t v) {
    return syscall(SYS_futex, reinterpret_cast<uint32_t *>(w), op | FUTEX_PRIVATE_FLAG, v, nullptr,
                   nullptr, 0);
  }
  void lock() {
    uint32_t expected = 0;
    if (word.compare_exchange_strong(expected, 1, std::memory_order_acquire)) return;
    for (int i = 0; i < 40; ++i) {
      expected = 0;
      if (word.load(std::memory_order_relaxed) == 0 &&
          word.compare_exchange_strong(expected, 1, std::memory_order_acquire))
        return;
      sched_yield();
    }
    while (word.exchange(2, std::memory_order_acquire) != 0)
      futex(&word, FUTEX_WAIT, 2);
  }
  void unlock() {
    if (word.exchange(0, std::memory_order_release) == 2) futex(&word, FUTEX_WAKE, 1);
  }
};

} // namespace

void add_handmade_peers(std::vector<peer> &out) {
  out.push_back(make_peer<ttas_backoff>("TTAS backoff", "spinning"));
  out.push_back(make_peer<yield_then_park>("yield-then-park", "hybrid"));
}

} // namespace bench
