/*
 * The mutex fast paths, inline in the caller (included by onspin.h; do not
 * include it directly).
 *
 * With GCC or clang on x86-64, onspin_mutex_lock, onspin_mutex_trylock and
 * onspin_mutex_unlock are defined here as well as in the library, as glibc
 * defines some of its functions in its headers: these definitions
 * (gnu_inline) serve inlining only. A call the compiler does not inline, and
 * the function's address, reach the library's exported function, which does
 * the same. So a free lock is taken with the caller's own compare-and-swap,
 * with no call, as WebKit's Lock::lock() does; everything else (a taken lock,
 * robust and recursive mutexes, a thread's first lock, a fork child's first)
 * calls into the library.
 *
 * A thread whose every lock and unlock the library must see (a lock holder
 * that asks the kernel not to preempt it, through the rseq time slice
 * extension where the kernel offers it) finds no key here and calls the
 * library: kernels without the extension pay nothing for it.
 *
 * What these definitions read is part of the library's ABI (soname 0): the
 * word (@0) and kind (@16) of onspin_mutex_t, and the onspin_detail_*
 * variables below. Define ONSPIN_NO_INLINE before including onspin.h to
 * call the library only.
 */
#ifndef ONSPIN_DETAIL_MUTEX_INLINE_H
#define ONSPIN_DETAIL_MUTEX_INLINE_H

#ifdef __cplusplus
extern "C" {
#endif

/* Bits of onspin_mutex_t::kind the fast paths test (glibc's __kind encoding). */
#define ONSPIN_DETAIL_KIND_TYPE_MASK 3u
#define ONSPIN_DETAIL_TYPE_RECURSIVE 1u
#define ONSPIN_DETAIL_KIND_ROBUST 16u

#if defined(__GNUC__) && defined(__linux__)
/* Where the calling thread's TID lies, as an offset from the thread pointer:
 * the word the kernel writes in glibc's thread descriptor (a fork child's
 * threads see their new TID there at once). Set before main. */
ONSPIN_API extern long onspin_detail_tid_offset;

/* Per thread: the TID (low half) this thread last locked as, and its lock key
 * (high half; the TID as the root PID namespace sees it). A TID that differs
 * from the one at onspin_detail_tid_offset means a new thread or a fork child:
 * the library then works the key out again. The library may also set bit 31
 * of the low half, which no TID has (they stay below 2^22): the inline paths
 * then send every call to it. */
ONSPIN_API extern __thread uint64_t onspin_detail_identity
    __attribute__((tls_model("initial-exec")));

/* The slow paths, for the inline definitions only. `key` is the key a failed
 * fast path tried, or 0 if it tried nothing: they then do the whole call. */
ONSPIN_API int onspin_detail_mutex_lock_slow(onspin_mutex_t *m, uint32_t key);
ONSPIN_API int onspin_detail_mutex_trylock_slow(onspin_mutex_t *m, uint32_t key);
ONSPIN_API int onspin_detail_mutex_unlock_slow(onspin_mutex_t *m);
#endif

#if defined(__GNUC__) && defined(__x86_64__) && defined(__linux__)
/* Like the three functions they serve, the helpers are gnu_inline (never
 * emitted: a C inline definition with external linkage may not call static
 * ones), and always inlined, so they need no definition anywhere. */
#define ONSPIN_DETAIL_INLINE __inline__ __attribute__((__gnu_inline__))
#define ONSPIN_DETAIL_HELPER                                                                       \
  ONSPIN_DETAIL_EXTERN ONSPIN_DETAIL_INLINE __attribute__((__always_inline__))
/* extern in C++ too: clang warns about gnu_inline without it. */
#define ONSPIN_DETAIL_EXTERN extern

#if !defined(ONSPIN_NO_INLINE) && !defined(ONSPIN_BUILDING_LIBRARY)
#define ONSPIN_INLINE_FAST_PATHS 1

/* The calling thread's lock key, or 0 if the library must work it out. The
 * TID read is volatile so that it is never hoisted across a call to fork(). */
ONSPIN_DETAIL_HELPER uint32_t onspin_detail_key(void) {
  uint32_t tid;
  uint64_t id;
  __asm__ __volatile__("movl %%fs:(%1), %0" : "=r"(tid) : "r"(onspin_detail_tid_offset));
  id = onspin_detail_identity;
  return (uint32_t)id == tid ? (uint32_t)(id >> 32) : 0;
}

/* A private or process-shared mutex that is not robust: robust mutexes keep
 * a list of the locks each thread holds, which is the library's business. */
ONSPIN_DETAIL_HELPER int onspin_detail_plain(const onspin_mutex_t *m) {
  return !(__atomic_load_n(&m->kind, __ATOMIC_RELAXED) & ONSPIN_DETAIL_KIND_ROBUST);
}

/* Takes m if it is free and plain, as the calling thread. *key is left at the
 * key tried, or 0 if none was: what the slow paths continue from. */
ONSPIN_DETAIL_HELPER int onspin_detail_take(onspin_mutex_t *m, uint32_t *key) {
  uint32_t expected = 0;
  if (m == 0 || !onspin_detail_plain(m)) return 0;
  *key = onspin_detail_key();
  return *key != 0 && __atomic_compare_exchange_n(&m->word, &expected, *key, 0, __ATOMIC_ACQUIRE,
                                                  __ATOMIC_RELAXED);
}

ONSPIN_DETAIL_EXTERN ONSPIN_DETAIL_INLINE int onspin_mutex_lock(onspin_mutex_t *m) {
  uint32_t key = 0;
  if (__builtin_expect(onspin_detail_take(m, &key), 1)) return 0;
  return onspin_detail_mutex_lock_slow(m, key);
}

ONSPIN_DETAIL_EXTERN ONSPIN_DETAIL_INLINE int onspin_mutex_trylock(onspin_mutex_t *m) {
  uint32_t key = 0;
  if (__builtin_expect(onspin_detail_take(m, &key), 1)) return 0;
  return onspin_detail_mutex_trylock_slow(m, key);
}

ONSPIN_DETAIL_EXTERN ONSPIN_DETAIL_INLINE int onspin_mutex_unlock(onspin_mutex_t *m) {
  uint32_t kind;
  if (__builtin_expect(m != 0, 1)) {
    kind = __atomic_load_n(&m->kind, __ATOMIC_RELAXED);
    /* A recursive mutex may be held more than once: the library counts down. */
    if (__builtin_expect(!(kind & ONSPIN_DETAIL_KIND_ROBUST) &&
                             (kind & ONSPIN_DETAIL_KIND_TYPE_MASK) != ONSPIN_DETAIL_TYPE_RECURSIVE,
                         1)) {
      uint32_t expected = onspin_detail_key();
      /* Fails if someone sleeps on the word (WAITERS), if the caller does not
       * own the lock, or if its key is not known yet or not given out here. */
      if (__builtin_expect(expected != 0 &&
                               __atomic_compare_exchange_n(&m->word, &expected, 0, 0,
                                                           __ATOMIC_RELEASE, __ATOMIC_RELAXED),
                           1))
        return 0;
    }
  }
  return onspin_detail_mutex_unlock_slow(m);
}

#endif /* ONSPIN_INLINE_FAST_PATHS */

#undef ONSPIN_DETAIL_HELPER
#undef ONSPIN_DETAIL_INLINE
#undef ONSPIN_DETAIL_EXTERN
#endif /* GNU C, x86-64 Linux */

#ifdef __cplusplus
}
#endif

#endif /* ONSPIN_DETAIL_MUTEX_INLINE_H */
