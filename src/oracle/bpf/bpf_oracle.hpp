// The bpf oracle, user side: finds the on_cpu map that the eBPF program in
// bpf/oracle.bpf.c keeps, and maps it read-only into the process.
//
// Where the map comes from, in the order tried:
//  1. a pinned, frozen map under /sys/fs/bpf/onspin/ that an administrator
//     installed (`onspin oracle install`): works for any user allowed by the
//     pin's group, and never adds a second copy of the programs;
//  2. the programs loaded into this process, if it has CAP_BPF and
//     CAP_PERFMON (or CAP_SYS_ADMIN); attached while the process lives.
#pragma once

#include <cstddef>
#include <cstdint>

namespace onspin::detail::bpf {

constexpr const char *kPinDir = "/sys/fs/bpf/onspin";
constexpr const char *kPinMap = "/sys/fs/bpf/onspin/on_cpu";
constexpr const char *kPinSwitch = "/sys/fs/bpf/onspin/switch_link";
constexpr const char *kPinExit = "/sys/fs/bpf/onspin/exit_link";
constexpr const char *kPinRootTid = "/sys/fs/bpf/onspin/root_tid";
// The run queue lengths (bpf/oracle_abi.h) and the programs that keep them.
constexpr const char *kPinCpuLoad = "/sys/fs/bpf/onspin/cpu_load";
constexpr const char *kPinWakeup = "/sys/fs/bpf/onspin/wakeup_link";
constexpr const char *kPinWakeupNew = "/sys/fs/bpf/onspin/wakeup_new_link";
constexpr const char *kPinMigrate = "/sys/fs/bpf/onspin/migrate_link";

struct view {
  const uint32_t *slots = nullptr;
  uint32_t entries = 0;
  bool pinned = false;    // from the administrator's pin, not loaded here
  uint32_t map_id = 0;    // ... the pinned on_cpu map's id
  int root_tid_prog = -1; // program returning the caller's root-namespace TID
  void *loaded = nullptr; // the skeleton, when loaded here (not pinned)
  bool root_keys = false; // child PID namespace: keys are root TIDs via root_tid
  // cpu_load, mapped read-only: null where an older install pinned none.
  const uint32_t *cpu_load = nullptr;
  uint32_t cpus = 0;
};

// Finds or loads the oracle. On failure returns false and writes one
// sentence saying why into `why`. Prints nothing.
bool open(view *v, char *why, size_t why_len) noexcept;

// The pinned map with this id is still installed: false after `onspin
// oracle remove`, and after a reinstall, which pins a new map and leaves the
// old one frozen. An error other than "no pin" answers true.
bool pin_still(uint32_t map_id) noexcept;

// The calling thread's TID in the root PID namespace, or 0 if unknown.
uint32_t root_tid(const view &v) noexcept;

// kernel.pid_max: the number of map slots needed.
uint32_t pid_max() noexcept;

// Map elements (chunks of ONSPIN_SLOTS_PER_CHUNK slots) that cover pid_max.
uint32_t chunks_for_pid_max() noexcept;

// The process has the capabilities to load and attach the programs.
bool may_load() noexcept;

} // namespace onspin::detail::bpf
