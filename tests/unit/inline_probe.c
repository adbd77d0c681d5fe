/* Compiled with -O2 and inspected with nm by the inline_fast_paths test:
 * the calls below must leave references to the slow paths only. */
#include <onspin/onspin.h>

int probe_pair(onspin_mutex_t *m) {
  int r = onspin_mutex_trylock(m);
  if (r == 0) r = onspin_mutex_unlock(m);
  if (r != 0) return r;
  r = onspin_mutex_lock(m);
  return r ? r : onspin_mutex_unlock(m);
}
