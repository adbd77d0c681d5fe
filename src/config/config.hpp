// Settings read once from the environment. A bad value never stops the
// program: it is reported on one stderr line and the default is used.
#pragma once

#include <cstdint>

namespace onspin::detail {

enum class oracle_request { auto_, bpf, rseq, futex2_spin, budget, none };

// What a waiter does while the oracle says the owner is preempted (off its
// CPU but runnable), where the oracle can tell that from blocked; and while
// the owner runs but another task waits for the waiter's own CPU.
enum class waiter_action { yield, sleep, spin };
const char *action_name(waiter_action a) noexcept;

struct config {
  oracle_request oracle = oracle_request::auto_;
  uint32_t spin_cap_ns = 10000; // ONSPIN_SPIN_NS: the longest a spin lasts
  // ONSPIN_SPIN_ALONE_NS (bpf): the longest a spin lasts while no other task
  // waits for the spinner's CPU and no CPU quota caps its group.
  uint32_t spin_alone_ns = 100000;
  uint32_t max_spinners = 1; // ONSPIN_SPINNERS: concurrent spinners per lock
  waiter_action on_preempted = waiter_action::yield; // ONSPIN_PREEMPTED
  waiter_action on_crowded = waiter_action::yield;   // ONSPIN_CROWDED
  bool print_stats = false;                          // ONSPIN_STATS=1: statistics to stderr at exit
  // ONSPIN_SLICE_EXT=auto|off: lock holders ask for the rseq time slice
  // extension where the kernel offers it (auto), or never (off).
  bool slice_ext = true;
};

const config &cfg() noexcept;

// What ONSPIN_STATS=1 prints at exit: by default one line of the library's
// counters; the LD_PRELOAD interposer prints its own report instead.
void set_stats_printer(void (*print)()) noexcept;

// Parsers for one variable's text, exposed for the unit tests. They return
// false on a bad value and leave *out unchanged.
bool parse_oracle(const char *text, oracle_request *out) noexcept;
bool parse_action(const char *text, waiter_action *out) noexcept;
bool parse_slice_ext(const char *text, bool *out) noexcept;
bool parse_uint(const char *text, uint32_t min, uint32_t max, uint32_t *out) noexcept;

} // namespace onspin::detail
