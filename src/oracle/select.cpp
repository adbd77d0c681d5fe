// Chooses the process's oracle from ONSPIN_ORACLE (see config/config.hpp).
#include "config/config.hpp"
#include "oracle/oracle.hpp"

#include <onspin/onspin.h>

namespace onspin::detail {
namespace {

oracle choose() noexcept {
  switch (cfg().oracle) {
  case oracle_request::none:
    return {oracle_kind::none, "none", "ONSPIN_ORACLE=none: waiters never spin"};
  case oracle_request::budget:
    return {oracle_kind::budget, "budget", "ONSPIN_ORACLE=budget"};
  case oracle_request::bpf:
    return {oracle_kind::budget, "budget",
            "ONSPIN_ORACLE=bpf, but this build has no bpf oracle; using budget"};
  case oracle_request::rseq:
    return {oracle_kind::budget, "budget",
            "ONSPIN_ORACLE=rseq, but this build has no rseq oracle; using budget"};
  case oracle_request::auto_:
    break;
  }
  return {oracle_kind::budget, "budget",
          "auto: this build has no owner-aware oracle (bpf, rseq); using budget"};
}

} // namespace

const oracle &current_oracle() noexcept {
  static const oracle o = choose();
  return o;
}

} // namespace onspin::detail

extern "C" const char *onspin_oracle_name(void) { return onspin::detail::current_oracle().name; }

extern "C" const char *onspin_oracle_reason(void) {
  return onspin::detail::current_oracle().reason;
}
