/* Concurrency Kit's MCS and ticket locks behind a C interface: ck's headers
 * compile as C only. */
#ifndef BENCH_CK_LOCKS_H
#define BENCH_CK_LOCKS_H
#ifdef __cplusplus
extern "C" {
#endif

void *bench_ck_mcs_new(void);
void bench_ck_mcs_lock(void *lock);
void bench_ck_mcs_unlock(void *lock);
void bench_ck_mcs_free(void *lock);

void *bench_ck_ticket_new(void);
void bench_ck_ticket_lock(void *lock);
void bench_ck_ticket_unlock(void *lock);
void bench_ck_ticket_free(void *lock);

#ifdef __cplusplus
}
#endif
#endif
