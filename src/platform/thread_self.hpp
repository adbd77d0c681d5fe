// The calling thread's identity as lock keys.
//
// The TID is read from glibc's thread descriptor, the word the kernel itself
// writes: at pthread_create (CLONE_PARENT_SETTID) and in every fork() and
// _Fork() child (CLONE_CHILD_SETTID). glibc's own robust and error-checking
// mutexes read the same word. A cached copy of our own would go stale in any
// child whose creator runs no atfork handler (_Fork, vfork), and a stale TID
// makes a child take its parent's locks for its own.
//
// Two keys, equal outside PID namespaces:
//  - the oracle key, for ordinary locks: the TID as the root PID namespace
//    sees it, which is what the bpf oracle's map is indexed by;
//  - the namespace TID (gettid()), for robust locks: the kernel's robust-list
//    walk at thread death compares the lock word with it.
//
// This layer calls nothing above it: the oracle layer installs hooks for
// what it needs to know of a thread (see identity_hooks).
#pragma once

#include <cstdint>
#include <onspin/onspin.h> // onspin_detail_tid_offset, onspin_detail_identity

namespace onspin::detail {

// onspin_detail_tid_offset (exported, with onspin_detail_identity, for the
// inline fast paths of onspin.h): where the kernel-written TID sits, as an
// offset from the thread pointer. glibc's `struct pthread` begins at the
// thread pointer on x86-64, and its `tid` field is 720 bytes in (glibc 2.36;
// the kernel tells the exact place: prctl(PR_GET_TID_ADDRESS)). Checked when
// the library loads; where it cannot be confirmed, the offset names a
// per-thread copy of our own instead, which reads 0 until the thread's first
// call fills it (and, like any copy, goes stale in children that run no
// atfork handler).

uint32_t self_tid_copy() noexcept;

// onspin_detail_identity: the oracle key (see above) cached with the TID it
// belongs to: tid in the low half, key in the high half. A TID that differs
// from the cached one means a new thread or a new process (a fork child's
// forking thread). Bit 31 of the low half (kViaLibrary; TIDs stay below
// PID_MAX_LIMIT, 2^22) makes the header's inline paths find no key, so that
// every lock and unlock of the thread reaches the library; the library's own
// paths mask it.
constexpr uint32_t kViaLibrary = 1u << 31;

inline uint32_t identity_tid(uint64_t id) noexcept {
  return static_cast<uint32_t>(id) & ~kViaLibrary;
}

// Sends the calling thread's inline lock and unlock calls to the library,
// or stops doing so, for the identity it has now.
inline void route_via_library(bool on) noexcept {
  onspin_detail_identity =
      on ? onspin_detail_identity | kViaLibrary : onspin_detail_identity & ~uint64_t{kViaLibrary};
}

// The kernel-maintained TID of the calling thread: one %fs-relative load,
// volatile so that it is never hoisted across a call to fork().
inline uint32_t self_tid() noexcept {
  uint32_t tid;
#if defined(__x86_64__)
  asm volatile("movl %%fs:(%1), %0" : "=r"(tid) : "r"(onspin_detail_tid_offset));
#else
  tid = *reinterpret_cast<const uint32_t *>(static_cast<char *>(__builtin_thread_pointer()) +
                                            onspin_detail_tid_offset);
#endif
  if (__builtin_expect(tid == 0, 0)) tid = self_tid_copy();
  return tid;
}

uint32_t self_key_slow(uint32_t tid) noexcept;

// The oracle key. A thread's first call (and a fork child's) runs the
// identity hooks: in a child PID namespace that asks the oracle for the root
// TID (one system call).
inline uint32_t self_key() noexcept {
  const uint32_t tid = self_tid();
  const uint64_t id = onspin_detail_identity;
  if (__builtin_expect(identity_tid(id) == tid, 1)) return static_cast<uint32_t>(id >> 32);
  return self_key_slow(tid);
}

// Notes a new identity (a new thread, or a fork child's forking thread) for
// callers that need the TID only, such as robust locks: is_self() can then
// tell the pre-fork identity after a fork.
inline void note_identity() noexcept {
  const uint32_t tid = self_tid();
  if (__builtin_expect(identity_tid(onspin_detail_identity) != tid, 0)) self_key_slow(tid);
}

// The lock key of this thread for a robust or an ordinary lock.
inline uint32_t self_key_for(bool robust) noexcept { return robust ? self_tid() : self_key(); }

// Whether `owner` (a lock word's owner field) is the calling thread.
//
// A fork child's forking thread may release the private locks it held in
// the parent (the pthread_atfork pattern): their words hold its pre-fork
// TID. That TID counts as the caller's only for private locks, and only
// while no thread of this process has been given it since (TID reuse,
// one system call to check). For a process-shared lock it names the parent,
// which still runs and owns it.
bool is_self(uint32_t owner, bool robust, bool process_shared) noexcept;

// The process runs in a child PID namespace (checked once).
bool in_child_pid_namespace() noexcept;

// What the oracle layer needs to know about threads. It defines
// `identity_hooks_of_oracles`, constant-initialised, so the hooks hold from
// the first instruction: a library's constructor may lock before any
// constructor of onspin's runs (under the LD_PRELOAD interposer it does). The
// reference is weak: this layer does not need the oracle layer linked in.
struct identity_hooks {
  // The root-namespace TID of the calling thread, or 0 if unknown; asked
  // only in a child PID namespace.
  uint32_t (*root_tid)() noexcept = nullptr;
  // The calling thread starts locking under `key` (a new thread, or a fork
  // child's forking thread under its new key; `old_key` is then its
  // previous key, else 0).
  void (*entered)(uint32_t key, uint32_t old_key) noexcept = nullptr;
};
extern const identity_hooks identity_hooks_of_oracles __attribute__((weak));
// The lock holder's side (src/slice/) needs to know of new threads too.
extern const identity_hooks identity_hooks_of_slice __attribute__((weak));

} // namespace onspin::detail
