// Chooses the process's oracle from ONSPIN_ORACLE (see config/config.hpp):
//   auto   rseq if the kernel advertises sched_state, else bpf if its map
//          can be opened or loaded, else budget
//   rseq   rseq, or budget with the reason it failed
//   bpf    bpf, or budget with the reason it failed
//   budget, none as asked
#include <atomic>
#include <cstdio>
#include <onspin/onspin.h>

#include "config/config.hpp"
#include "oracle/oracle.hpp"
#include "platform/clock.hpp"
#include "platform/errno_keeper.hpp"
#include "platform/futex.hpp"
#include "platform/once.hpp"
#include "platform/thread_self.hpp"
#ifdef ONSPIN_HAVE_BPF
#include "oracle/bpf/bpf_oracle.hpp"
#endif

namespace onspin::detail {
namespace {

oracle the_oracle;
char reason_text[640];
std::atomic<const char *> reason{reason_text};

const char *name_of(oracle_kind k) {
  switch (k) {
  case oracle_kind::none:
    return "none";
  case oracle_kind::budget:
    return "budget";
  case oracle_kind::bpf:
    return "bpf";
  case oracle_kind::rseq:
    return "rseq";
  case oracle_kind::futex2_spin:
    return "futex2_spin";
  }
  return "budget";
}

void set(oracle_kind k, const char *why) {
  std::snprintf(reason_text, sizeof reason_text, "%s", why);
  the_oracle.kind.store(k, std::memory_order_release);
}

// The fallback of every request that cannot be met, with the reason.
void use_budget(const char *request, const char *missing, const char *why) {
  std::snprintf(reason_text, sizeof reason_text, "%.300s: %s (%.250s); using budget", request,
                missing, why);
  the_oracle.kind.store(oracle_kind::budget, std::memory_order_release);
}

#ifdef ONSPIN_HAVE_BPF
bpf::view bpf_view;

bool try_bpf(const char *request) {
  char why[256];
  if (!bpf::open(&bpf_view, why, sizeof why)) {
    use_budget(request, "no bpf oracle", why);
    return false;
  }
  the_oracle.slots = bpf_view.slots;
  the_oracle.entries = bpf_view.entries;
  the_oracle.root_keys = bpf_view.root_keys;
  the_oracle.cpu_load = bpf_view.cpu_load;
  the_oracle.cpus = bpf_view.cpus;
  std::snprintf(reason_text, sizeof reason_text, "%.300s: bpf oracle %s", request, why);
  the_oracle.kind.store(oracle_kind::bpf, std::memory_order_release);
  return true;
}
#else
bool try_bpf(const char *request) {
  use_budget(request, "no bpf oracle",
             "this build has none: it was built without clang, bpftool, libbpf or BTF");
  return false;
}
#endif

// On failure *why says what is missing, and nothing is chosen yet.
bool try_rseq(const char *request, const char **why) {
  if (!rseq::start(true, why)) return false;
  std::snprintf(reason_text, sizeof reason_text,
                "%.300s: rseq oracle (%s; process-shared locks use bpf if they can, else budget)",
                request, *why);
  the_oracle.kind.store(oracle_kind::rseq, std::memory_order_release);
  return true;
}

void choose() noexcept {
  const char *why;
  switch (cfg().oracle) {
  case oracle_request::none:
    set(oracle_kind::none, "ONSPIN_ORACLE=none: waiters never spin");
    return;
  case oracle_request::budget:
    set(oracle_kind::budget, "ONSPIN_ORACLE=budget");
    return;
  case oracle_request::rseq:
    if (!try_rseq("ONSPIN_ORACLE=rseq", &why))
      use_budget("ONSPIN_ORACLE=rseq", "no rseq oracle", why);
    return;
  case oracle_request::bpf:
    try_bpf("ONSPIN_ORACLE=bpf");
    return;
  case oracle_request::futex2_spin:
    if (futex2_spin_supported(&why))
      set(oracle_kind::futex2_spin,
          "ONSPIN_ORACLE=futex2_spin: waiters sleep with FUTEX2_SPIN, and the kernel spins "
          "while the owner runs");
    else
      use_budget("ONSPIN_ORACLE=futex2_spin", "no FUTEX2_SPIN", why);
    return;
  case oracle_request::auto_:
    if (!try_rseq("auto", &why)) {
      char first[300];
      std::snprintf(first, sizeof first, "auto: no rseq oracle (%s)", why);
      try_bpf(first);
    }
    return;
  }
}

fork_safe_once chosen;

} // namespace

// Callers do not wait for a choice another thread is making: it may take
// milliseconds (loading eBPF programs), and it allocates, so under the
// LD_PRELOAD interposer it may need a lock that one of them holds (a
// malloc built on pthread mutexes). Until it is made, `kind` reads budget.
void choose_once(bool wait) noexcept {
  chosen.call(
      [] {
        const errno_keeper keep_errno; // choosing opens files and loads programs
        choose();
      },
      wait);
}

const oracle &current_oracle() noexcept {
  choose_once(false);
  return the_oracle;
}

bool oracle_chosen() noexcept { return chosen.done(); }

oracle_kind shared_lock_policy() noexcept {
  static fork_safe_once once;
  static std::atomic<oracle_kind> policy{oracle_kind::budget};
  once.call(
      [] {
        const errno_keeper keep_errno;
#ifdef ONSPIN_HAVE_BPF
        // The map is indexed by root TIDs; under rseq, lock words hold the
        // namespace's. They agree outside child PID namespaces only.
        char why[256];
        if (in_child_pid_namespace() || !bpf::open(&bpf_view, why, sizeof why)) return;
        the_oracle.slots = bpf_view.slots;
        the_oracle.entries = bpf_view.entries;
        the_oracle.cpu_load = bpf_view.cpu_load;
        the_oracle.cpus = bpf_view.cpus;
        policy.store(oracle_kind::bpf, std::memory_order_release);
#endif
      },
      false); // as current_oracle: budget until chosen
  return policy.load(std::memory_order_acquire);
}

bool force_rseq_oracle_for_test() noexcept {
  const char *why;
  if (!rseq::start(false, &why)) return false;
  bool forced = false;
  chosen.call([&] {
    set(oracle_kind::rseq, "forced by a test: rseq registry in test mode");
    forced = true;
  });
  return forced;
}

void oracle_spin_ran_out() noexcept {
#ifdef ONSPIN_HAVE_BPF
  // Only a pinned map can go stale under us: a map loaded here stays
  // attached for the life of the process. Check at most every 100 ms.
  static std::atomic<uint64_t> next_check{0};
  if (the_oracle.kind.load(std::memory_order_relaxed) != oracle_kind::bpf || !bpf_view.pinned)
    return;
  const uint64_t now = now_ns();
  uint64_t due = next_check.load(std::memory_order_relaxed);
  if (now < due || !next_check.compare_exchange_strong(due, now + 100000000)) return;
  const errno_keeper keep_errno;
  if (bpf::pin_still(bpf_view.map_id)) return;
  static char stale[] = "the pinned bpf map was removed or replaced while this process ran "
                        "(onspin oracle remove or install): its states are stale; using budget";
  reason.store(stale, std::memory_order_release);
  the_oracle.kind.store(oracle_kind::budget, std::memory_order_release);
#endif
}

// Threads are entered into the rseq registry, and find their root TID in a
// child PID namespace, on their first lock: before any oracle is chosen.
constinit const identity_hooks identity_hooks_of_oracles{oracle_root_tid, rseq::enter};

uint32_t oracle_root_tid() noexcept {
#ifdef ONSPIN_HAVE_BPF
  // A thread's key lasts its lifetime, so this waits for a choice in
  // progress: a namespace TID taken as key meanwhile could equal another
  // thread's root TID. (The thread holds no onspin lock yet: its key is
  // computed at its first lock.)
  choose_once(true);
  const oracle &o = the_oracle;
  if (o.kind.load(std::memory_order_acquire) != oracle_kind::bpf || !o.root_keys) return 0;
  return bpf::root_tid(bpf_view);
#else
  return 0;
#endif
}

} // namespace onspin::detail

extern "C" const char *onspin_oracle_name(void) {
  using namespace onspin::detail;
  return name_of(current_oracle().kind.load(std::memory_order_acquire));
}

extern "C" const char *onspin_oracle_reason(void) {
  onspin::detail::current_oracle();
  return onspin::detail::reason.load(std::memory_order_acquire);
}
