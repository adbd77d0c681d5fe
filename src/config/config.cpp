#include "config/config.hpp"

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <onspin/onspin.h>
#include <unistd.h>

namespace onspin::detail {
namespace {

void complain(const char *var, const char *value, const char *valid, const char *fallback) {
  std::fprintf(stderr, "onspin: %s=\"%s\" is invalid (valid: %s); using %s\n", var, value, valid,
               fallback);
}

void print_stats_at_exit() {
  onspin_stats s;
  if (onspin_stats_get(&s) != 0) return;
  std::fprintf(stderr,
               "onspin: oracle=%s contended=%llu spin_acquired=%llu spin_ns=%llu "
               "spin_stop_owner_off=%llu spin_stop_budget=%llu spin_skip_limit=%llu "
               "spin_skip_oracle=%llu futex_waits=%llu futex_wakes=%llu handoffs=%llu "
               "timeouts=%llu owner_died=%llu cond_waits=%llu cond_requeues=%llu yields=%llu "
               "slice_grants=%llu slice_yields=%llu spin_alone=%llu\n",
               onspin_oracle_name(), (unsigned long long)s.contended,
               (unsigned long long)s.spin_acquired, (unsigned long long)s.spin_ns,
               (unsigned long long)s.spin_stop_owner_off, (unsigned long long)s.spin_stop_budget,
               (unsigned long long)s.spin_skip_limit, (unsigned long long)s.spin_skip_oracle,
               (unsigned long long)s.futex_waits, (unsigned long long)s.futex_wakes,
               (unsigned long long)s.handoffs, (unsigned long long)s.timeouts,
               (unsigned long long)s.owner_died, (unsigned long long)s.cond_waits,
               (unsigned long long)s.cond_requeues, (unsigned long long)s.yields,
               (unsigned long long)s.slice_grants, (unsigned long long)s.slice_yields,
               (unsigned long long)s.spin_alone);
}

std::atomic<void (*)()> stats_printer{print_stats_at_exit};

void print_stats() { stats_printer.load()(); }

config load() noexcept {
  config c;
  // The kernel lets one spinner watch a mutex owner; illumos allowed ncpus-1.
  // On 2 CPUs both give 1. ONSPIN_SPINNERS lets the benchmark compare them.
  long cpus = sysconf(_SC_NPROCESSORS_ONLN);
  c.max_spinners = cpus > 2 ? static_cast<uint32_t>(cpus - 1) : 1;

  if (const char *v = std::getenv("ONSPIN_ORACLE"); v && !parse_oracle(v, &c.oracle))
    complain("ONSPIN_ORACLE", v, "auto, bpf, rseq, futex2_spin, budget, none", "auto");
  if (const char *v = std::getenv("ONSPIN_SPIN_NS");
      v && !parse_uint(v, 0, 100000000, &c.spin_cap_ns))
    complain("ONSPIN_SPIN_NS", v, "whole nanoseconds from 0 to 100000000", "10000");
  if (const char *v = std::getenv("ONSPIN_SPIN_ALONE_NS");
      v && !parse_uint(v, 0, 100000000, &c.spin_alone_ns))
    complain("ONSPIN_SPIN_ALONE_NS", v, "whole nanoseconds from 0 to 100000000", "100000");
  if (const char *v = std::getenv("ONSPIN_SPINNERS"); v && !parse_uint(v, 1, 4096, &c.max_spinners))
    complain("ONSPIN_SPINNERS", v, "a whole number from 1 to 4096", "max(1, CPUs - 1)");
  if (const char *v = std::getenv("ONSPIN_PREEMPTED"); v && !parse_action(v, &c.on_preempted))
    complain("ONSPIN_PREEMPTED", v, "yield, sleep, spin", "yield");
  if (const char *v = std::getenv("ONSPIN_CROWDED"); v && !parse_action(v, &c.on_crowded))
    complain("ONSPIN_CROWDED", v, "yield, sleep, spin", "yield");
  if (const char *v = std::getenv("ONSPIN_SLICE_EXT"); v && !parse_slice_ext(v, &c.slice_ext))
    complain("ONSPIN_SLICE_EXT", v, "auto, off", "auto");
  if (const char *v = std::getenv("ONSPIN_STATS")) {
    uint32_t on = 0;
    if (parse_uint(v, 0, 1, &on))
      c.print_stats = on == 1;
    else
      complain("ONSPIN_STATS", v, "0, 1", "0");
  }
  if (c.print_stats) std::atexit(print_stats);
  return c;
}

// Read at load time, so ONSPIN_STATS=1 reports even a program that never
// contends, and the first contended lock pays nothing for it.
[[gnu::constructor]] void load_early() { cfg(); }

} // namespace

const char *action_name(waiter_action a) noexcept {
  switch (a) {
  case waiter_action::yield:
    return "yield";
  case waiter_action::sleep:
    return "sleep";
  case waiter_action::spin:
    return "spin";
  }
  return "?";
}

bool parse_action(const char *text, waiter_action *out) noexcept {
  static const struct {
    const char *name;
    waiter_action value;
  } names[] = {{"yield", waiter_action::yield},
               {"sleep", waiter_action::sleep},
               {"spin", waiter_action::spin}};
  for (const auto &n : names) {
    if (std::strcmp(text, n.name) == 0) {
      *out = n.value;
      return true;
    }
  }
  return false;
}

bool parse_slice_ext(const char *text, bool *out) noexcept {
  if (std::strcmp(text, "auto") == 0 || std::strcmp(text, "off") == 0) {
    *out = text[0] == 'a';
    return true;
  }
  return false;
}

bool parse_oracle(const char *text, oracle_request *out) noexcept {
  static const struct {
    const char *name;
    oracle_request value;
  } names[] = {{"auto", oracle_request::auto_},    {"bpf", oracle_request::bpf},
               {"rseq", oracle_request::rseq},     {"futex2_spin", oracle_request::futex2_spin},
               {"budget", oracle_request::budget}, {"none", oracle_request::none}};
  for (const auto &n : names) {
    if (std::strcmp(text, n.name) == 0) {
      *out = n.value;
      return true;
    }
  }
  return false;
}

bool parse_uint(const char *text, uint32_t min, uint32_t max, uint32_t *out) noexcept {
  if (text[0] < '0' || text[0] > '9') return false; // no sign, no space, not empty
  errno = 0;
  char *end = nullptr;
  unsigned long long v = std::strtoull(text, &end, 10);
  if (errno != 0 || *end != '\0' || v < min || v > max) return false;
  *out = static_cast<uint32_t>(v);
  return true;
}

void set_stats_printer(void (*print)()) noexcept { stats_printer.store(print); }

const config &cfg() noexcept {
  static const config c = load();
  return c;
}

} // namespace onspin::detail
