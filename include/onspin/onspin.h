/*
 * onspin: a futex mutex that spins only while the lock owner runs on a CPU.
 *
 * C API with pthread conventions: every function returns 0 on success or an
 * errno value; none of them sets errno, prints, aborts or allocates on the
 * lock and unlock paths.
 *
 * How it works, in one paragraph: the 32-bit lock word holds the owner's
 * thread id (TID), an OWNER_DIED bit and a WAITERS bit, like the kernel's
 * robust futexes. Taking a free lock is one compare-and-swap; releasing a lock
 * nobody waits for is another. A thread that finds the lock taken asks an
 * *oracle* whether the owner is running. While it runs (or, without owner
 * information, for a time budget learned per lock) the waiter spins; then it
 * sleeps in futex_wait. See docs/ARCHITECTURE.md.
 *
 * Thread safety: every function may be called from any thread. Objects are
 * not movable once initialised (their address is the futex key) and must not
 * be copied.
 */
#ifndef ONSPIN_ONSPIN_H
#define ONSPIN_ONSPIN_H

#include <stddef.h> /* size_t */
#include <stdint.h>
#include <sys/types.h> /* clockid_t, even in strict ISO C modes */
#include <time.h>      /* struct timespec */

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define ONSPIN_API __attribute__((visibility("default")))
#else
#define ONSPIN_API
#endif

/* ------------------------------------------------------------------------ */
/* Mutex                                                                     */
/* ------------------------------------------------------------------------ */

/*
 * onspin_mutex_t: 40 bytes, laid out like glibc's pthread_mutex_t on x86-64:
 * the lock word at offset 0, the recursion count at 4, the type and
 * attributes at 16 in glibc's encoding, the robust-list link at 24. So
 * glibc's static initialisers (PTHREAD_MUTEX_INITIALIZER and the _NP ones
 * for recursive, error-checking and adaptive mutexes) make an onspin mutex
 * of the same type. The fields are visible only so that the initialisers and
 * the C++ wrappers can be constant-initialised; never read or write them.
 *
 * The robust-list link sits 32 bytes past the lock word, where glibc puts the
 * link of its own robust mutexes: a robust onspin mutex joins the per-thread
 * list that the kernel walks when a thread dies (see onspin_mutexattr_setrobust).
 */
typedef struct onspin_mutex {
  uint32_t word;     /* @0  owner TID | OWNER_DIED (bit 30) | WAITERS (bit 31) */
  uint32_t count;    /* @4  recursive mutex: locks beyond the first */
  uint32_t spin_ns;  /* @8  budget oracle: spin time this lock has learned */
  uint32_t fair_at;  /* @12 when the current fairness period began (us, wraps) */
  uint32_t kind;     /* @16 type and attributes, in glibc's __kind encoding */
  uint32_t state;    /* @20 spin policy; robust state */
  void *robust_prev; /* @24 robust list link (glibc layout) */
  void *robust_next; /* @32 robust list link (glibc layout) */
} onspin_mutex_t;

/* A private, non-robust mutex, equal to onspin_mutex_init(m, NULL). The
 * kind 0x400 marks a mutex that reports misuse (see ONSPIN_MUTEX_NORMAL); a
 * zero-filled mutex, or one made by glibc's PTHREAD_MUTEX_INITIALIZER, is a
 * normal mutex that behaves as glibc's does instead. */
#define ONSPIN_MUTEX_INITIALIZER                                                                   \
  { 0, 0, 0, 0, 0x400, 0, 0, 0 }

/* A private, recursive mutex (type ONSPIN_MUTEX_RECURSIVE). */
#define ONSPIN_RECURSIVE_MUTEX_INITIALIZER                                                         \
  { 0, 0, 0, 0, 0x401, 0, 0, 0 }

/*
 * Mutex attributes. Initialise with onspin_mutexattr_init (or zero it:
 * all-zero is the default, private and non-robust).
 */
typedef struct onspin_mutexattr {
  uint32_t flags;
} onspin_mutexattr_t;

/* Values for onspin_mutexattr_settype. */
enum {
  /* Relocking by the owner returns EDEADLK; unlocking by a thread that does
   * not own the lock returns EPERM. (A mutex that is zero-filled or made by
   * glibc's PTHREAD_MUTEX_INITIALIZER, rather than by onspin_mutex_init or
   * ONSPIN_MUTEX_INITIALIZER, behaves as glibc's normal mutex instead: the
   * relock waits forever, as POSIX specifies, and any thread's unlock
   * releases it. The LD_PRELOAD interposer gives every normal pthread mutex
   * glibc's behaviour.) */
  ONSPIN_MUTEX_NORMAL = 0,
  /* Same checks: onspin performs them for every mutex because they live on
   * the slow paths and cost nothing when the lock is used correctly. The
   * value exists so that code ported from pthread keeps its meaning. */
  ONSPIN_MUTEX_ERRORCHECK = 1,
  /* The owner may lock it again (lock, trylock and timedlock return 0, or
   * EAGAIN past UINT32_MAX nested locks); it is released by the unlock that
   * matches the first lock. A condition wait releases one level only, like
   * glibc's: wait holding it once. */
  ONSPIN_MUTEX_RECURSIVE = 2
};

/* Values for the pshared settings of mutexes and condition variables. */
enum {
  ONSPIN_PROCESS_PRIVATE = 0, /* used by the threads of one process */
  ONSPIN_PROCESS_SHARED = 1   /* may live in MAP_SHARED memory, used by many */
};

/* Values for onspin_mutexattr_setrobust. */
enum { ONSPIN_MUTEX_STALLED = 0, ONSPIN_MUTEX_ROBUST = 1 };

/* Returns 0, or EINVAL if attr is NULL. */
ONSPIN_API int onspin_mutexattr_init(onspin_mutexattr_t *attr);
ONSPIN_API int onspin_mutexattr_destroy(onspin_mutexattr_t *attr);

/* ONSPIN_PROCESS_PRIVATE or ONSPIN_PROCESS_SHARED; EINVAL otherwise. A
 * process-shared mutex uses non-private futex operations (slightly slower
 * wake-ups) and must be placed in memory every user maps, such as MAP_SHARED. */
ONSPIN_API int onspin_mutexattr_setpshared(onspin_mutexattr_t *attr, int pshared);
ONSPIN_API int onspin_mutexattr_getpshared(const onspin_mutexattr_t *attr, int *pshared);

/*
 * ONSPIN_MUTEX_ROBUST or ONSPIN_MUTEX_STALLED; EINVAL otherwise.
 *
 * A robust mutex survives the death of its owner: the next locker gets
 * EOWNERDEAD and owns the lock. It may repair the protected state and call
 * onspin_mutex_consistent(); if it unlocks without doing so, the mutex becomes
 * unusable and every later lock returns ENOTRECOVERABLE.
 *
 * How death is detected: the locked mutex is linked into the owner thread's
 * robust list, the one glibc registers with set_robust_list(2). When any
 * thread exits, returns, is cancelled or is killed with its process, the kernel
 * walks that list, sets OWNER_DIED in each word still holding the thread's TID
 * and wakes one waiter. Detection is immediate and immune to TID reuse.
 * Limits: the kernel walks at most 2048 robust locks per thread (glibc's and
 * onspin's together); inside a PID namespace the owner key must be the
 * namespace's TID, which is what gettid() returns there; the robust list's
 * layout is glibc's (checked at init: ENOTSUP if it differs). A robust lock
 * costs two extra stores on the lock and unlock fast paths, and its waits use
 * non-private futex operations because the kernel wakes dead owners' waiters
 * with a shared wake.
 */
ONSPIN_API int onspin_mutexattr_setrobust(onspin_mutexattr_t *attr, int robust);
ONSPIN_API int onspin_mutexattr_getrobust(const onspin_mutexattr_t *attr, int *robust);

/* Values for onspin_mutexattr_setspin. */
enum {
  ONSPIN_SPIN_DEFAULT = 0, /* the process's oracle decides (ONSPIN_ORACLE) */
  ONSPIN_SPIN_NEVER = 1,   /* never spin: sleep at once (as oracle "none") */
  ONSPIN_SPIN_BUDGET = 2   /* ignore owner information: learned budget only */
};

/*
 * How this lock's waiters spin. A lock may choose a simpler policy than the
 * process's oracle, never a richer one: NEVER suits locks known to be held
 * long; BUDGET compares the oracle's worth lock by lock (the benchmark does).
 * EINVAL for other values.
 */
ONSPIN_API int onspin_mutexattr_setspin(onspin_mutexattr_t *attr, int spin);
ONSPIN_API int onspin_mutexattr_getspin(const onspin_mutexattr_t *attr, int *spin);

/* ONSPIN_MUTEX_NORMAL, ONSPIN_MUTEX_ERRORCHECK or ONSPIN_MUTEX_RECURSIVE;
 * EINVAL otherwise. */
ONSPIN_API int onspin_mutexattr_settype(onspin_mutexattr_t *attr, int type);
ONSPIN_API int onspin_mutexattr_gettype(const onspin_mutexattr_t *attr, int *type);

/*
 * Initialises m, unlocked. attr may be NULL for the defaults.
 * Errors: EINVAL (m NULL, or attr holds unknown bits), ENOTSUP (robust
 * requested but this thread has no robust list in glibc's layout).
 * Initialising a mutex that is in use is undefined, as with pthread.
 */
ONSPIN_API int onspin_mutex_init(onspin_mutex_t *m, const onspin_mutexattr_t *attr);

/*
 * Acquires m, waiting as long as it takes.
 *
 * Cost: free lock, about one CAS (no syscall, no indirect call). Taken lock:
 * the caller spins while the oracle reports the owner on a CPU, at most
 * ONSPIN_SPIN_NS, then sleeps in the kernel until an unlock wakes it.
 * Waiters may be overtaken by newcomers ("barging", for throughput), but at
 * most about every millisecond an unlock hands the lock directly to a sleeper,
 * so no waiter starves.
 *
 * Returns 0, or:
 *   EINVAL          m is NULL
 *   EDEADLK         the calling thread already owns m (not recursive)
 *   EAGAIN          recursive m: UINT32_MAX nested locks already
 *   EOWNERDEAD      robust m: the previous owner died; the caller owns m
 *   ENOTRECOVERABLE robust m was unlocked while inconsistent; not acquired
 *   ENOTSUP         robust m, and the calling thread's robust list is not in glibc's layout
 */
ONSPIN_API int onspin_mutex_lock(onspin_mutex_t *m);

/* Acquires m if it is free. Never spins or sleeps. Returns 0, EBUSY (taken,
 * also when the caller owns it), EINVAL, EOWNERDEAD or ENOTRECOVERABLE.
 * ENOTSUP: robust m, and the calling thread's robust list is not glibc's layout. */
ONSPIN_API int onspin_mutex_trylock(onspin_mutex_t *m);

/*
 * As onspin_mutex_lock, but gives up at abstime, an absolute time on clock
 * CLOCK_MONOTONIC or CLOCK_REALTIME (REALTIME follows clock changes).
 * Returns ETIMEDOUT if the lock could not be taken by then (also for a time
 * already past), EINVAL if abstime is NULL, tv_nsec is outside
 * [0, 1000000000) or the clock is another one; the other lock errors as above.
 * ENOTSUP: robust m, and the calling thread's robust list is not glibc's layout.
 */
ONSPIN_API int onspin_mutex_timedlock(onspin_mutex_t *m, clockid_t clockid,
                                      const struct timespec *abstime);

/*
 * Releases m. If threads sleep on it, wakes one (or hands the lock to it
 * when fairness is due).
 * Returns 0, EINVAL (m NULL) or EPERM (the caller does not own m). After a
 * fork() or _Fork(), the child's forking thread may release the private
 * locks it held in the parent (the pthread_atfork pattern), although its TID
 * changed. A process-shared lock the parent holds stays the parent's: the
 * child gets EPERM, and its lock call waits.
 */
ONSPIN_API int onspin_mutex_unlock(onspin_mutex_t *m);

/*
 * Robust m only, called by the owner after EOWNERDEAD once the protected state
 * is repaired: marks m consistent, so that the next unlock makes it usable
 * again. Returns 0, EINVAL (m NULL, not robust, or not inconsistent) or EPERM
 * (the caller does not own m).
 */
ONSPIN_API int onspin_mutex_consistent(onspin_mutex_t *m);

/* Returns 0, EINVAL (m NULL) or EBUSY (m is locked, or a condition waiter
 * released it and will take it again; m stays usable). */
ONSPIN_API int onspin_mutex_destroy(onspin_mutex_t *m);

/* ------------------------------------------------------------------------ */
/* Condition variable                                                        */
/* ------------------------------------------------------------------------ */

/*
 * onspin_cond_t: 24 bytes. Fields are for the initialiser only.
 * A sequence counter in a futex: waiters sleep until it changes.
 */
typedef struct onspin_cond {
  uint32_t seq;      /* bumped by every signal and broadcast */
  uint32_t kind;     /* ONSPIN_PROCESS_SHARED bit */
  uint64_t refs;     /* waiters yet to leave, and how many were notified */
  uint64_t reserved; /* zero */
} onspin_cond_t;

#define ONSPIN_COND_INITIALIZER                                                                    \
  { 0, 0, 0, 0 }

typedef struct onspin_condattr {
  uint32_t flags;
} onspin_condattr_t;

ONSPIN_API int onspin_condattr_init(onspin_condattr_t *attr);
ONSPIN_API int onspin_condattr_destroy(onspin_condattr_t *attr);
ONSPIN_API int onspin_condattr_setpshared(onspin_condattr_t *attr, int pshared);
ONSPIN_API int onspin_condattr_getpshared(const onspin_condattr_t *attr, int *pshared);

/* Initialises c; attr may be NULL (private). EINVAL for NULL c or bad attr. */
ONSPIN_API int onspin_cond_init(onspin_cond_t *c, const onspin_condattr_t *attr);

/*
 * Atomically releases m (which the caller must own) and waits for a signal or
 * broadcast on c, then reacquires m before returning.
 *
 * Guarantees: a signal or broadcast that happens after the caller's release of
 * m wakes it (no lost wake-ups). Like every POSIX condition variable it may
 * return without a matching signal (a signal arriving while the thread was
 * being interrupted by a signal handler, for example), so wait in a loop that
 * rechecks the predicate. All concurrent waiters on c must use the same m.
 *
 * Returns 0, EINVAL (NULL argument), EPERM (caller does not own m), or the
 * robust errors of reacquiring m: EOWNERDEAD (m is held) or ENOTRECOVERABLE
 * (m is not held).
 */
ONSPIN_API int onspin_cond_wait(onspin_cond_t *c, onspin_mutex_t *m);

/*
 * As onspin_cond_wait, giving up at abstime on clockid (CLOCK_MONOTONIC or
 * CLOCK_REALTIME). Returns ETIMEDOUT when the time passed first (m is held
 * again), EINVAL for a bad clock or timespec (m stays held, nothing waited).
 */
ONSPIN_API int onspin_cond_timedwait(onspin_cond_t *c, onspin_mutex_t *m, clockid_t clockid,
                                     const struct timespec *abstime);

/* Wakes at least one waiter if any. No system call when nobody waits. */
ONSPIN_API int onspin_cond_signal(onspin_cond_t *c);

/*
 * Wakes all waiters. They then take the mutex in turn. Like signal, it
 * touches c for the last time in its wake-up system call: a woken waiter
 * may destroy c and free its memory at once.
 */
ONSPIN_API int onspin_cond_broadcast(onspin_cond_t *c);

/*
 * Returns 0, EINVAL (NULL) or EBUSY (a thread waits on c and was not
 * notified: c stays usable). As POSIX allows, c may be destroyed as soon as
 * every waiter was notified, by signals or a broadcast, even while the woken
 * are still leaving: destroy then waits for them to stop touching c (they
 * leave before they reacquire the mutex, so the caller may hold it), and c's
 * memory may be freed or unmapped as soon as destroy returns. A
 * process-shared c whose notified waiters have not left after a second gives
 * EBUSY: a waiter's process may have died in its wait, and no process can
 * tell that from a slow one.
 */
ONSPIN_API int onspin_cond_destroy(onspin_cond_t *c);

/* ------------------------------------------------------------------------ */
/* Statistics and oracle                                                     */
/* ------------------------------------------------------------------------ */

/*
 * Process-wide counters of slow-path events, summed over live and exited
 * threads. The uncontended paths count nothing (that would cost them a store),
 * so `contended` counts lock calls that found the lock taken.
 */
struct onspin_stats {
  uint64_t contended;           /* lock calls that found the lock taken */
  uint64_t spin_acquired;       /* ... and got it while spinning */
  uint64_t spin_ns;             /* time in counted spins (the short probe before them is untimed) */
  uint64_t spin_stop_owner_off; /* spins ended: oracle said owner off CPU */
  uint64_t spin_stop_budget;    /* spins ended: time limit or budget used up */
  uint64_t spin_skip_limit;     /* no spin: enough threads already spinning */
  uint64_t spin_skip_oracle;    /* no spin: oracle "none" or owner off CPU */
  uint64_t futex_waits;         /* futex wait calls (mutex and cond) */
  uint64_t futex_wakes;         /* futex wake or requeue calls */
  uint64_t handoffs;            /* unlocks that handed the lock to a sleeper */
  uint64_t timeouts;            /* timed lock or wait calls that timed out */
  uint64_t owner_died;          /* EOWNERDEAD returns */
  uint64_t cond_waits;          /* condition waits started */
  uint64_t cond_requeues;       /* always 0: broadcast no longer requeues (kept for the ABI) */
  /* Added in 0.2 (see onspin_stats_read). */
  uint64_t yields; /* sched_yield calls: the owner waited for a CPU, or a task for ours */
  /* Since 0.2, the rseq time slice extension (ONSPIN_SLICE_EXT): */
  uint64_t slice_grants; /* last unlocks that found an extension granted */
  uint64_t slice_yields; /* ... and gave the CPU back inside it */
  /* Added after 0.2: spins that went past ONSPIN_SPIN_NS because no other
   * task waited for the spinner's CPU (bpf, ONSPIN_SPIN_ALONE_NS). */
  uint64_t spin_alone;
};

/* Fills the first `size` bytes of *out (at most sizeof(struct onspin_stats)),
 * so that a program built with an older header, whose struct is shorter,
 * gets its own fields only. Returns 0 or EINVAL (out NULL). */
ONSPIN_API int onspin_stats_read(struct onspin_stats *out, size_t size);

/* Fills *out. Returns 0 or EINVAL (out NULL). A macro since 0.2: the
 * function of that name (for programs built before) fills the fields up to
 * cond_requeues only. */
ONSPIN_API int onspin_stats_get(struct onspin_stats *out);
#define onspin_stats_get(out) onspin_stats_read((out), sizeof(struct onspin_stats))

/* Sets every counter to zero, for all threads. */
ONSPIN_API void onspin_stats_reset(void);

/* The oracle this process uses: "rseq" (a kernel with onspin's patch),
 * "bpf", "budget" or "none". The first call chooses it, which for bpf may
 * load the eBPF programs: see docs/ORACLES.md. */
ONSPIN_API const char *onspin_oracle_name(void);

/* One sentence saying why that oracle was chosen. */
ONSPIN_API const char *onspin_oracle_reason(void);

#ifdef __cplusplus
}
#endif

/* onspin_mutex_lock, _trylock and _unlock, inline where the compiler allows. */
#include <onspin/detail/mutex_inline.h>

#endif /* ONSPIN_ONSPIN_H */
