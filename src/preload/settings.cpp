#include "preload/settings.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "platform/once.hpp"

namespace onspin::preload {

std::atomic<uint32_t> glibc_kinds{kKindPrioInherit | kKindPrioProtect | kKindPshared};
std::atomic<bool> counting{false};

namespace {

settings loaded;
detail::fork_safe_once once;

void load() noexcept {
  if (const char *v = std::getenv("ONSPIN_PSHARED")) {
    if (std::strcmp(v, "onspin") == 0)
      loaded.pshared_to_onspin = true;
    else if (std::strcmp(v, "glibc") != 0)
      std::fprintf(stderr,
                   "onspin: ONSPIN_PSHARED=\"%s\" is invalid (valid: glibc, onspin); "
                   "using glibc\n",
                   v);
  }
  // ONSPIN_STATS itself is checked by the library's configuration, which
  // complains about bad values; here only "1" matters.
  if (const char *v = std::getenv("ONSPIN_STATS")) loaded.print_stats = std::strcmp(v, "1") == 0;
  if (const char *v = std::getenv("ONSPIN_STATS_FILE"); v && *v) loaded.stats_file = v;
  if (loaded.pshared_to_onspin) glibc_kinds.store(kKindPrioInherit | kKindPrioProtect);
  if (loaded.print_stats || loaded.stats_file) counting.store(true);
}

} // namespace

const settings &current_settings() noexcept {
  once.call(load);
  return loaded;
}

} // namespace onspin::preload
