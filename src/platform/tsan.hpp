// ThreadSanitizer cannot see the one synchronisation the kernel does for
// onspin: when a thread dies holding a robust lock, the kernel sets
// OWNER_DIED after the thread's last write, and the next locker reads it.
// In TSan builds we model that edge: a robust-lock holder releases a sync
// object at thread exit (its TLS destructors run after its last user code,
// before the kernel walks its robust list) and an EOWNERDEAD locker acquires
// it. In other builds these functions are empty.
#pragma once

#if defined(__SANITIZE_THREAD__)
#define ONSPIN_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define ONSPIN_TSAN 1
#endif
#endif

#ifdef ONSPIN_TSAN
extern "C" void __tsan_acquire(void *addr);
extern "C" void __tsan_release(void *addr);
#endif

namespace onspin::detail {

#ifdef ONSPIN_TSAN
inline char tsan_death_sync;
struct tsan_exit_release {
  ~tsan_exit_release() { __tsan_release(&tsan_death_sync); }
};
inline void tsan_robust_owner() {
  static thread_local tsan_exit_release at_exit;
  (void)at_exit;
}
inline void tsan_owner_died() { __tsan_acquire(&tsan_death_sync); }
#else
inline void tsan_robust_owner() {}
inline void tsan_owner_died() {}
#endif

} // namespace onspin::detail
