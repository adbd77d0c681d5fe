// The calling thread's lock key: its TID, cached in one initial-exec TLS word
// so that the fast paths read it with a single %fs-relative load.
#pragma once

#include <cstdint>

// __thread rather than thread_local: a trivially initialised TLS word needs no
// wrapper call, and initial-exec avoids __tls_get_addr in a shared library.
extern __thread uint32_t onspin_tls_key __attribute__((tls_model("initial-exec")));

namespace onspin::detail {

uint32_t self_key_slow() noexcept;

inline uint32_t self_key() noexcept {
  uint32_t key = onspin_tls_key;
  if (__builtin_expect(key == 0, 0)) key = self_key_slow();
  return key;
}

// The key this thread had before the last fork() (0 if none): the child's
// forking thread still owns, and may release, the locks it held in the parent.
uint32_t self_prefork_key() noexcept;

inline bool is_self(uint32_t owner) noexcept {
  if (owner == self_key()) return true;
  uint32_t before_fork = self_prefork_key();
  return before_fork != 0 && owner == before_fork;
}

// getpid(), cached and refreshed after fork().
uint32_t self_pid() noexcept;

} // namespace onspin::detail
