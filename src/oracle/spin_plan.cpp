#include "oracle/spin_plan.hpp"

#include "config/config.hpp"
#include "oracle/budget/budget.hpp"

namespace onspin::detail {

namespace {

// A preempted owner releases the lock as soon as it runs again. Yielding
// gives it (or another thread of this CPU's queue) the CPU now, where a
// futex sleep would cost a wake-up system call at unlock and a switch back.
// Each yield costs a system call too, so they are bounded per acquisition.
constexpr uint32_t kMaxYields = 16;

void set_preempted_policy(spin_plan &plan) noexcept {
  switch (cfg().on_preempted) {
  case preempted_action::yield:
    plan.if_preempted = verdict::yield;
    plan.max_yields = kMaxYields;
    break;
  case preempted_action::sleep:
    plan.if_preempted = verdict::sleep;
    break;
  case preempted_action::spin:
    plan.if_preempted = verdict::spin;
    break;
  }
}

} // namespace

spin_plan plan_spin(onspin_mutex_t *m, uint32_t spin, bool shared_futex, bool robust) noexcept {
  const oracle &o = current_oracle();
  // The lock's own policy may be simpler than the process's oracle.
  oracle_kind policy = o.kind.load(std::memory_order_acquire); // then its fields
  if (spin == ONSPIN_SPIN_NEVER)
    policy = oracle_kind::none;
  else if (spin == ONSPIN_SPIN_BUDGET && policy != oracle_kind::none)
    policy = oracle_kind::budget;
  // The rseq oracle knows this process's threads only: a process-shared
  // lock's owner may be elsewhere (the seed's limit). Such locks ask the bpf
  // oracle where it can be had, else they use budget.
  if (policy == oracle_kind::rseq && shared_futex) policy = shared_lock_policy();

  spin_plan plan;
  plan.from = &o;
  const uint32_t cap = cfg().spin_cap_ns;
  switch (policy) {
  case oracle_kind::none:
    break;
  case oracle_kind::futex2_spin: // the kernel does the spinning, in the sleep
    plan.probe = true;
    plan.kernel_spins = true;
    break;
  case oracle_kind::budget:
    plan.probe = true;
    plan.limit_ns = budget::limit_ns(m, cap);
    plan.learn = true;
    break;
  case oracle_kind::bpf:
    plan.probe = true;
    plan.limit_ns = cap; // an owner-aware spin ends when the owner leaves its CPU
    // Robust locks hold namespace TIDs; when the map's keys are root TIDs
    // (a child PID namespace) it cannot answer for their owners.
    plan.ask = robust && o.root_keys ? oracle_kind::none : oracle_kind::bpf;
    plan.check_stale = true;
    set_preempted_policy(plan);
    break;
  case oracle_kind::rseq:
    plan.probe = true;
    plan.limit_ns = cap;
    plan.ask = oracle_kind::rseq;
    break;
  }
  return plan;
}

void learn_from_wait(onspin_mutex_t *m, const spin_plan &plan, uint64_t waited_ns) noexcept {
  if (plan.learn) budget::learn(m, waited_ns, cfg().spin_cap_ns);
}

} // namespace onspin::detail
