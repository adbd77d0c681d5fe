// The interposer's statistics at exit, per process (ONSPIN_STATS=1 to
// stderr, ONSPIN_STATS_FILE=PATH appended to PATH): what onspin served,
// what it left to glibc and why, the pthread locks it does not replace, and
// the lock core's slow-path counters. Four lines of key=value pairs, each
// prefixed with onspin[PID], so that reports of many processes can be
// summed (tests/thirdparty/stats-summary does).
//
// Also the interposer's start: its constructor runs before those of the
// program and of most libraries, and makes the one-time lookups then, not
// inside some later call (a signal handler, malloc).
#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <fcntl.h>
#include <onspin/onspin.h>
#include <unistd.h>

#include "config/config.hpp"
#include "oracle/oracle.hpp"
#include "platform/errno_keeper.hpp"
#include "preload/counters.hpp"
#include "preload/glibc.hpp"
#include "preload/settings.hpp"

namespace onspin::preload {
namespace {

int report_fd = STDERR_FILENO;

struct buffer {
  char text[4096];
  size_t used = 0;
  void add(const char *fmt, ...) __attribute__((format(printf, 2, 3))) {
    if (used >= sizeof text) return;
    va_list ap;
    va_start(ap, fmt);
    const int n = std::vsnprintf(text + used, sizeof text - used, fmt, ap);
    va_end(ap);
    if (n > 0) used = std::min(sizeof text, used + static_cast<size_t>(n));
  }
};

struct named {
  const char *name;
  counter c;
};

void add_line(buffer &b, const char *what, std::initializer_list<named> counters) {
  b.add("onspin[%d]: %s:", static_cast<int>(getpid()), what);
  for (const named &n : counters)
    b.add(" %s=%llu", n.name, static_cast<unsigned long long>(detail::stat_total(stat_of(n.c))));
  b.add("\n");
}

void report() {
  const detail::errno_keeper keep_errno;
  buffer b;
  add_line(b, "served",
           {{"mutex_init", counter::mutex_init},
            {"mutex_calls", counter::mutex_calls},
            {"cond_init", counter::cond_init},
            {"cond_calls", counter::cond_calls},
            {"cond_calls_old_abi", counter::cond_calls_old_abi}});
  add_line(b, "left to glibc",
           {{"mutex_init_pi", counter::mutex_init_pi},
            {"mutex_init_pp", counter::mutex_init_pp},
            {"mutex_init_pshared", counter::mutex_init_pshared},
            {"mutex_calls_pi", counter::mutex_calls_pi},
            {"mutex_calls_pp", counter::mutex_calls_pp},
            {"mutex_calls_pshared", counter::mutex_calls_pshared},
            {"mutex_calls_destroyed", counter::mutex_calls_destroyed},
            {"cond_init_pshared", counter::cond_init_pshared},
            {"cond_calls_pshared", counter::cond_calls_pshared}});
  add_line(b, "not replaced",
           {{"rwlock_calls", counter::rwlock_calls},
            {"spin_calls", counter::spin_calls},
            {"barrier_calls", counter::barrier_calls}});
  onspin_stats s{};
  onspin_stats_get(&s);
  b.add("onspin[%d]: slow paths: oracle=%s contended=%llu spin_acquired=%llu futex_waits=%llu "
        "futex_wakes=%llu handoffs=%llu timeouts=%llu owner_died=%llu cond_waits=%llu "
        "yields=%llu spin_alone=%llu\n",
        static_cast<int>(getpid()), detail::oracle_chosen() ? onspin_oracle_name() : "unchosen",
        static_cast<unsigned long long>(s.contended),
        static_cast<unsigned long long>(s.spin_acquired),
        static_cast<unsigned long long>(s.futex_waits),
        static_cast<unsigned long long>(s.futex_wakes), static_cast<unsigned long long>(s.handoffs),
        static_cast<unsigned long long>(s.timeouts), static_cast<unsigned long long>(s.owner_died),
        static_cast<unsigned long long>(s.cond_waits), static_cast<unsigned long long>(s.yields),
        static_cast<unsigned long long>(s.spin_alone));

  const settings &set = current_settings();
  if (set.print_stats) (void)!write(report_fd, b.text, b.used);
  if (set.stats_file) {
    const int fd = open(set.stats_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) {
      std::fprintf(stderr, "onspin: cannot append statistics to ONSPIN_STATS_FILE=%s\n",
                   set.stats_file);
      return;
    }
    (void)!write(fd, b.text, b.used); // one write: reports of processes do not interleave
    close(fd);
  }
}

// Priority 101: before the program's constructors and those of libraries
// loaded after this one, which may lock.
[[gnu::constructor(101)]] void start() {
  const settings &set = current_settings();
  glibc();
  // Some programs close stderr before they exit (xz checks that its output
  // was written): the report goes to a copy of it taken now.
  if (set.print_stats) {
    const int copy = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 100);
    if (copy >= 0) report_fd = copy;
  }
  // The library's own one-line report would repeat part of this one.
  detail::set_stats_printer([] {});
  // Reports are summed over processes: a fork child must not repeat its
  // parent's counts.
  detail::count_per_process();
  if (set.print_stats || set.stats_file) std::atexit(report);
}

} // namespace
} // namespace onspin::preload
