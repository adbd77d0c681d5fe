/* Compiled with -std=c11 -pedantic-errors and no feature-test macros: the
 * public header must declare everything it uses by itself. */
#include <onspin/onspin.h>

static onspin_mutex_t m = ONSPIN_MUTEX_INITIALIZER;
static onspin_cond_t c = ONSPIN_COND_INITIALIZER;

int onspin_header_check(clockid_t clock, const struct timespec *ts) {
  struct onspin_stats s;
  int r = onspin_mutex_timedlock(&m, clock, ts);
  if (r == 0) r = onspin_cond_timedwait(&c, &m, clock, ts);
  return r + onspin_stats_get(&s);
}
