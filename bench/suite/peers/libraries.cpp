// Locks from well-kept libraries: abseil, oneTBB, Concurrency Kit.
#include <absl/synchronization/mutex.h>
#include <oneapi/tbb/mutex.h>
#include <oneapi/tbb/spin_mutex.h>

#include "lock_api.hpp"
#include "peers/ck_locks.h"

namespace bench {
namespace {

struct absl_mutex {
  absl::Mutex m;
  void lock() { m.Lock(); }
  void unlock() { m.Unlock(); }
};

struct ck_mcs {
  void *l = bench_ck_mcs_new();
  ~ck_mcs() { bench_ck_mcs_free(l); }
  void lock() { bench_ck_mcs_lock(l); }
  void unlock() { bench_ck_mcs_unlock(l); }
};

struct ck_ticket {
  void *l = bench_ck_ticket_new();
  ~ck_ticket() { bench_ck_ticket_free(l); }
  void lock() { bench_ck_ticket_lock(l); }
  void unlock() { bench_ck_ticket_unlock(l); }
};

} // namespace

void add_library_peers(std::vector<peer> &out) {
  out.push_back(make_peer<absl_mutex>("absl::Mutex", "hybrid"));
  out.push_back(make_peer<oneapi::tbb::mutex>("tbb::mutex", "hybrid"));
  out.push_back(make_peer<oneapi::tbb::spin_mutex>("tbb::spin_mutex", "spinning"));
  out.push_back(make_peer<ck_mcs>("ck MCS", "spinning"));
  out.push_back(make_peer<ck_ticket>("ck ticket", "spinning"));
}

} // namespace bench
