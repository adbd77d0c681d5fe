// Oracles answer one question for the lock slow path: is the thread with this
// key running on a CPU right now? The answer is a hint (a switch may happen a
// moment later), so every spin stays bounded in time whatever it says.
//
// The oracle is chosen once per process. Its answer is a switch on that
// choice, not an indirect call: an owner-aware oracle's answer is one load.
#pragma once

#include <cstdint>

namespace onspin::detail {

enum class owner_state : uint8_t { off, on, unknown };

enum class oracle_kind : uint8_t {
  none,   // never spin: a plain futex mutex
  budget, // no owner information: spin for a learned time budget
};

struct oracle {
  oracle_kind kind;
  const char *name;
  const char *reason;
};

// The process's oracle, decided at the first call from ONSPIN_ORACLE.
const oracle &current_oracle() noexcept;

inline owner_state owner_on_cpu(const oracle &o, uint32_t /*owner_key*/) noexcept {
  switch (o.kind) {
  case oracle_kind::none:
  case oracle_kind::budget:
    return owner_state::unknown;
  }
  return owner_state::unknown;
}

} // namespace onspin::detail
