// onspin with each oracle this process has: the process's own (bpf when it
// can be opened or loaded), and per-lock policies for budget and none.
#include <onspin/onspin.h>
#include <string>

#include "lock_api.hpp"

namespace bench {
namespace {

template <int Spin> struct onspin_lock {
  onspin_mutex_t m;
  onspin_lock() {
    onspin_mutexattr_t a;
    onspin_mutexattr_init(&a);
    onspin_mutexattr_setspin(&a, Spin);
    onspin_mutex_init(&m, &a);
  }
  void lock() { onspin_mutex_lock(&m); }
  void unlock() { onspin_mutex_unlock(&m); }
};

} // namespace

void add_onspin_peers(std::vector<peer> &out) {
  const std::string oracle = onspin_oracle_name();
  if (oracle != "budget" && oracle != "none")
    out.push_back(make_peer<onspin_lock<ONSPIN_SPIN_DEFAULT>>("onspin " + oracle, "onspin"));
  if (oracle != "none")
    out.push_back(make_peer<onspin_lock<ONSPIN_SPIN_BUDGET>>("onspin budget", "onspin"));
  out.push_back(make_peer<onspin_lock<ONSPIN_SPIN_NEVER>>("onspin none", "onspin"));
}

} // namespace bench
