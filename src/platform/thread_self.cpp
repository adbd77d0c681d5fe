#include "platform/thread_self.hpp"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

__thread uint32_t onspin_tls_key __attribute__((tls_model("initial-exec"))) = 0;

namespace onspin::detail {
namespace {

__thread uint32_t tls_prefork_key = 0;
uint32_t cached_pid = 0;

// Only the forking thread lives on in the child: its TID changed, the cache
// must not keep the parent's.
void after_fork_in_child() noexcept {
  if (onspin_tls_key != 0) tls_prefork_key = onspin_tls_key;
  onspin_tls_key = 0;
  cached_pid = static_cast<uint32_t>(getpid());
}

[[gnu::constructor]] void install_fork_handler() {
  pthread_atfork(nullptr, nullptr, after_fork_in_child);
}

} // namespace

uint32_t self_key_slow() noexcept {
  onspin_tls_key = static_cast<uint32_t>(syscall(SYS_gettid));
  return onspin_tls_key;
}

uint32_t self_prefork_key() noexcept { return tls_prefork_key; }

uint32_t self_pid() noexcept {
  uint32_t pid = __atomic_load_n(&cached_pid, __ATOMIC_RELAXED);
  if (pid == 0) {
    pid = static_cast<uint32_t>(getpid());
    __atomic_store_n(&cached_pid, pid, __ATOMIC_RELAXED);
  }
  return pid;
}

} // namespace onspin::detail
