#include "ck_locks.h"

#include <ck_spinlock.h>
#include <stdlib.h>

/* MCS: each waiter spins on its own queue node (one per thread here, since a
 * thread holds at most one benchmark lock at a time), strictly FIFO. */
static _Thread_local ck_spinlock_mcs_context_t node;

void *bench_ck_mcs_new(void) {
  ck_spinlock_mcs_t *l = malloc(sizeof *l);
  if (l) ck_spinlock_mcs_init(l);
  return l;
}
void bench_ck_mcs_lock(void *lock) { ck_spinlock_mcs_lock(lock, &node); }
void bench_ck_mcs_unlock(void *lock) { ck_spinlock_mcs_unlock(lock, &node); }
void bench_ck_mcs_free(void *lock) { free(lock); }

void *bench_ck_ticket_new(void) {
  ck_spinlock_ticket_t *t = malloc(sizeof *t);
  if (t) ck_spinlock_ticket_init(t);
  return t;
}
void bench_ck_ticket_lock(void *lock) { ck_spinlock_ticket_lock(lock); }
void bench_ck_ticket_unlock(void *lock) { ck_spinlock_ticket_unlock(lock); }
void bench_ck_ticket_free(void *lock) { free(lock); }
