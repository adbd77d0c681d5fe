// The calling thread's identity as lock keys, cached in TLS so that the fast
// paths read the key with a single %fs-relative load.
//
// Two keys, equal outside PID namespaces:
//  - the oracle key, for ordinary locks: the TID as the root PID namespace
//    sees it, which is what the bpf oracle's map is indexed by;
//  - the namespace TID (gettid()), for robust locks: the kernel's robust-list
//    walk at thread death compares the lock word with it.
#pragma once

#include <cstdint>

// __thread rather than thread_local: a trivially initialised TLS word needs no
// wrapper call, and initial-exec avoids __tls_get_addr in a shared library.
extern __thread uint32_t onspin_tls_key __attribute__((tls_model("initial-exec")));

namespace onspin::detail {

uint32_t self_key_slow() noexcept;

// The oracle key (see above). Inside a child PID namespace the first call of
// each thread asks the oracle for the root TID (one system call).
inline uint32_t self_key() noexcept {
  uint32_t key = onspin_tls_key;
  if (__builtin_expect(key == 0, 0)) key = self_key_slow();
  return key;
}

// gettid(), cached: the key of robust locks.
uint32_t self_tid() noexcept;

// The lock key of this thread for a robust or an ordinary lock.
inline uint32_t self_key_for(bool robust) noexcept { return robust ? self_tid() : self_key(); }

// Whether `owner` (a lock word's owner field) is the calling thread. After a
// fork() the child's forking thread still owns, and may release, the locks it
// held in the parent under its old TID.
bool is_self(uint32_t owner, bool robust) noexcept;

// The process runs in a child PID namespace (checked once).
bool in_child_pid_namespace() noexcept;

// getpid(), cached and refreshed after fork().
uint32_t self_pid() noexcept;

} // namespace onspin::detail
