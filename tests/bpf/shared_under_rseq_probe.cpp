// Run by the bpf tests (root): with rseq as the process's oracle (forced,
// registry in test mode, as no kernel here has both rseq sched_state and
// BPF), a process-shared lock asks the bpf oracle about its owner. An owner
// that runs holding it keeps a waiter spinning; one that sleeps holding it
// stops the waiter at once. (rseq in test mode would say OFF for both.)
// Exit 0 when both hold; prints what it saw.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <onspin/onspin.h>
#include <thread>

#include "oracle/oracle.hpp"
#include "platform/clock.hpp"

namespace det = onspin::detail;

namespace {

struct outcome {
  uint64_t owner_off_stops;
  uint64_t spin_acquired;
};

// The owner holds `m` for 5 ms, busy or asleep, while this thread locks it.
// Returns false if the lock was already free again (this thread was not
// scheduled in time, on a loaded machine): nothing to judge then.
bool contend_once(onspin_mutex_t *m, bool owner_sleeps, outcome *out) {
  std::atomic<bool> held{false};
  std::thread owner([&] {
    onspin_mutex_lock(m);
    held = true;
    if (owner_sleeps) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    } else {
      for (const uint64_t end = det::now_ns() + 5000000; det::now_ns() < end;) {
      }
    }
    onspin_mutex_unlock(m);
  });
  while (!held.load()) {
  }
  onspin_stats_reset();
  onspin_mutex_lock(m);
  onspin_stats s{};
  onspin_stats_get(&s);
  onspin_mutex_unlock(m);
  owner.join();
  *out = {s.spin_stop_owner_off, s.spin_acquired};
  return s.contended > 0;
}

outcome contend(onspin_mutex_t *m, bool owner_sleeps) {
  outcome o{};
  for (int attempt = 0; attempt < 20 && !contend_once(m, owner_sleeps, &o); ++attempt) {
  }
  return o;
}

} // namespace

int main() {
  if (!det::force_rseq_oracle_for_test()) {
    std::printf("could not force the rseq oracle\n");
    return 3;
  }
  onspin_mutexattr_t a;
  onspin_mutexattr_init(&a);
  onspin_mutexattr_setpshared(&a, ONSPIN_PROCESS_SHARED);
  onspin_mutex_t m;
  onspin_mutex_init(&m, &a);
  // A cap longer than the busy owner's hold: only the oracle stops a spin.
  const outcome busy = contend(&m, false);
  const outcome asleep = contend(&m, true);
  const det::oracle_kind policy = det::shared_lock_policy();
  std::printf("oracle=%s shared_policy=%s busy_owner: spin_acquired=%llu owner_off=%llu; "
              "sleeping_owner: owner_off=%llu\n",
              onspin_oracle_name(), policy == det::oracle_kind::bpf ? "bpf" : "other",
              (unsigned long long)busy.spin_acquired, (unsigned long long)busy.owner_off_stops,
              (unsigned long long)asleep.owner_off_stops);
  const bool ok =
      policy == det::oracle_kind::bpf && busy.owner_off_stops == 0 && asleep.owner_off_stops >= 1;
  return ok ? 0 : 1;
}
