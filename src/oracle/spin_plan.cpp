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

// A yield that kept the thread away for less than this gave the CPU to a
// task that handed it back (a context switch each way costs microseconds;
// a neighbour keeps the CPU for a slice of 0.75 ms or more). Such a yield
// silences crowded-CPU yields for the thread's next kQuietAcquisitions
// contended acquisitions.
constexpr uint64_t kQuickYieldNs = 100000;
constexpr uint32_t kQuietAcquisitions = 64;

verdict verdict_for(waiter_action a) noexcept {
  switch (a) {
  case waiter_action::yield:
    return verdict::yield;
  case waiter_action::sleep:
    return verdict::sleep;
  case waiter_action::spin:
    break;
  }
  return verdict::spin;
}

// What bpf and rseq can tell beyond on and off: a preempted owner; and, bpf
// only, an owner that runs while another task waits for the waiter's CPU
// (the kernel's own spinners stop on need_resched()). Yields share one bound.
void set_waiter_policies(spin_plan &plan, bool bpf) noexcept {
  plan.if_preempted = verdict_for(cfg().on_preempted);
  plan.if_crowded = bpf ? verdict_for(cfg().on_crowded) : verdict::spin;
  if (plan.if_preempted == verdict::yield || plan.if_crowded == verdict::yield)
    plan.max_yields = kMaxYields;
}

} // namespace

__thread crowd_state tls_crowd __attribute__((tls_model("initial-exec"))) = {0, false};

void note_yield(uint64_t away_ns) noexcept {
  if (tls_crowd.yielded_for_crowd && away_ns < kQuickYieldNs) tls_crowd.quiet = kQuietAcquisitions;
}

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

  if (tls_crowd.quiet != 0) --tls_crowd.quiet; // one more contended acquisition
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
    if (plan.ask == oracle_kind::bpf && cap != 0 && cfg().spin_alone_ns > cap)
      plan.alone_limit_ns = cfg().spin_alone_ns;
    set_waiter_policies(plan, true);
    break;
  case oracle_kind::rseq:
    plan.probe = true;
    plan.limit_ns = cap;
    plan.ask = oracle_kind::rseq;
    set_waiter_policies(plan, false);
    break;
  }
  return plan;
}

void learn_from_wait(onspin_mutex_t *m, const spin_plan &plan, uint64_t waited_ns) noexcept {
  if (plan.learn) budget::learn(m, waited_ns, cfg().spin_cap_ns);
}

} // namespace onspin::detail
