// glibc's pthread_mutex in its three flavours, and std::mutex (which is the
// default pthread_mutex behind a C++ interface).
#include <mutex>
#include <pthread.h>

#include "lock_api.hpp"

namespace bench {
namespace {

template <int Kind, int Protocol> struct glibc_mutex {
  pthread_mutex_t m;
  glibc_mutex() {
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, Kind);
    pthread_mutexattr_setprotocol(&a, Protocol);
    pthread_mutex_init(&m, &a);
    pthread_mutexattr_destroy(&a);
  }
  ~glibc_mutex() { pthread_mutex_destroy(&m); }
  void lock() { pthread_mutex_lock(&m); }
  void unlock() { pthread_mutex_unlock(&m); }
};

} // namespace

void add_glibc_peers(std::vector<peer> &out) {
  out.push_back(
      make_peer<glibc_mutex<PTHREAD_MUTEX_NORMAL, PTHREAD_PRIO_NONE>>("glibc default", "sleeping"));
  out.push_back(make_peer<glibc_mutex<PTHREAD_MUTEX_ADAPTIVE_NP, PTHREAD_PRIO_NONE>>(
      "glibc adaptive", "hybrid"));
  // FUTEX_LOCK_PI: the kernel spins on a running owner since Linux 5.15.
  out.push_back(
      make_peer<glibc_mutex<PTHREAD_MUTEX_NORMAL, PTHREAD_PRIO_INHERIT>>("glibc PI", "kernel"));
  out.push_back(make_peer<std::mutex>("std::mutex", "sleeping"));
}

} // namespace bench
