/* tst-mutex8 asks the tunables framework (glibc-internal, not in the
   installed library's API) whether lock elision was switched on, to skip
   checks that an elided mutex cannot pass.  Tunables come only from the
   GLIBC_TUNABLES environment variable, so this reads the same setting from
   there: "ns.id.name=value" items separated by ':'.  */
#ifndef ONSPIN_GLIBC_NPTL_DL_TUNABLES_H
#define ONSPIN_GLIBC_NPTL_DL_TUNABLES_H
/* glibc builds internal tests with config.h included; HAVE_TUNABLES is there.  */
#include <config.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static inline int64_t onspin_tunable_get(const char *name) {
  size_t len = strlen(name);
  for (const char *s = getenv("GLIBC_TUNABLES"); s != NULL && *s != '\0';) {
    if (strncmp(s, name, len) == 0 && s[len] == '=') return strtoll(s + len + 1, NULL, 0);
    s = strchr(s, ':');
    if (s != NULL) ++s;
  }
  return 0;
}

#define TUNABLE_GET_FULL(ns, id, name, type, cb) ((type)onspin_tunable_get(#ns "." #id "." #name))
#endif
