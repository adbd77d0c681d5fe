/* The library's exported lock functions, called without the header's inline
 * fast paths, for the tests that mix the two (inline_path_test.cpp). */
#define ONSPIN_NO_INLINE
#include <onspin/onspin.h>

#ifdef ONSPIN_INLINE_FAST_PATHS
#error "ONSPIN_NO_INLINE must turn the inline fast paths off"
#endif

int outline_lock(onspin_mutex_t *m) { return onspin_mutex_lock(m); }
int outline_trylock(onspin_mutex_t *m) { return onspin_mutex_trylock(m); }
int outline_unlock(onspin_mutex_t *m) { return onspin_mutex_unlock(m); }
