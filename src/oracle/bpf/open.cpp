#include "oracle/bpf/bpf_oracle.hpp"
#include "oracle/oracle.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <cstdarg>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <linux/capability.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "oracle.skel.h"
#include "oracle_abi.h"

namespace onspin::detail::bpf {

static_assert(kSlotPreempted == ONSPIN_SLOT_PREEMPTED, "one encoding of the map");
static_assert(kSlotQuota == ONSPIN_SLOT_QUOTA && kTellsQuota == ONSPIN_TELLS_QUOTA, "one encoding");
static_assert(sizeof(onspin_cpu_load) == kCpuLoadStride * sizeof(uint32_t) &&
                  offsetof(onspin_cpu_load, tells) == kCpuLoadTells * sizeof(uint32_t),
              "one layout");

namespace {

void say(char *why, size_t len, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, len, fmt, ap);
  va_end(ap);
}

// libbpf reports to stderr by default; a library must not. Silence it for
// the duration of our calls only, leaving the program's own setting alone.
int quiet(enum libbpf_print_level, const char *, va_list) { return 0; }
struct libbpf_silenced {
  libbpf_print_fn_t previous = libbpf_set_print(quiet);
  ~libbpf_silenced() { libbpf_set_print(previous); }
};

const uint32_t *map_read_only(int fd, size_t bytes) {
  void *p = mmap(nullptr, bytes, PROT_READ, MAP_SHARED, fd, 0);
  return p == MAP_FAILED ? nullptr : static_cast<const uint32_t *>(p);
}

const uint32_t *slots_read_only(int fd, uint32_t chunks) {
  return map_read_only(fd, static_cast<size_t>(chunks) * sizeof(onspin_chunk));
}

size_t cpu_load_bytes(uint32_t cpus) { return static_cast<size_t>(cpus) * sizeof(onspin_cpu_load); }

// The pinned cpu_load map, if the install has one (installs by an older onspin
// pinned none, and their waiters do without).
void open_pinned_cpu_load(view *v) {
  const int fd = bpf_obj_get(kPinCpuLoad);
  if (fd < 0) return;
  bpf_map_info info{};
  uint32_t info_len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &info_len) == 0 && info.type == BPF_MAP_TYPE_ARRAY &&
      info.value_size == sizeof(onspin_cpu_load) && (info.map_flags & BPF_F_MMAPABLE)) {
    if (const uint32_t *load = map_read_only(fd, cpu_load_bytes(info.max_entries))) {
      v->cpu_load = load;
      v->cpus = info.max_entries;
    }
  }
  close(fd);
}

bool open_pinned(view *v, char *why, size_t len) {
  // Read-write access to the pin is what the administrator grants: the map
  // is frozen, so the fd cannot write it, and mmap of a read-only fd fails.
  int fd = bpf_obj_get(kPinMap);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT)
      say(why, len, "no pinned map at %s (not installed)", kPinMap);
    else
      say(why, len, "cannot open the pinned map %s: %s", kPinMap, strerror(e));
    return false;
  }
  bpf_map_info info{};
  uint32_t info_len = sizeof(info);
  if (bpf_obj_get_info_by_fd(fd, &info, &info_len) != 0 || info.type != BPF_MAP_TYPE_ARRAY ||
      info.value_size != sizeof(onspin_chunk) || !(info.map_flags & BPF_F_MMAPABLE)) {
    say(why, len, "%s is not onspin's on_cpu map", kPinMap);
    close(fd);
    return false;
  }
  const uint32_t *slots = slots_read_only(fd, info.max_entries);
  int e = errno;
  close(fd); // the mapping keeps the map alive
  if (slots == nullptr) {
    say(why, len, "cannot map the pinned map %s: %s", kPinMap, strerror(e));
    return false;
  }
  v->slots = slots;
  v->entries = info.max_entries * ONSPIN_SLOTS_PER_CHUNK;
  v->pinned = true;
  v->map_id = info.id;
  v->root_tid_prog = bpf_obj_get(kPinRootTid); // optional: PID namespaces only
  open_pinned_cpu_load(v);
  return true;
}

bool load_here(view *v, char *why, size_t len) {
  onspin_oracle *skel = onspin_oracle__open();
  if (skel == nullptr) {
    say(why, len, "cannot open the embedded eBPF object: %s", strerror(errno));
    return false;
  }
  const uint32_t chunks = chunks_for_pid_max();
  const int cpus = libbpf_num_possible_cpus();
  int err = cpus > 0 ? 0 : cpus;
  if (!err) err = bpf_map__set_max_entries(skel->maps.on_cpu, chunks);
  if (!err) err = bpf_map__set_max_entries(skel->maps.cpu_load, static_cast<uint32_t>(cpus));
  if (!err) err = onspin_oracle__load(skel);
  if (!err) err = onspin_oracle__attach(skel);
  if (err) {
    say(why, len, "loading the eBPF programs failed: %s", strerror(-err));
    onspin_oracle__destroy(skel);
    return false;
  }
  const uint32_t *slots = slots_read_only(bpf_map__fd(skel->maps.on_cpu), chunks);
  const uint32_t *load = map_read_only(bpf_map__fd(skel->maps.cpu_load), cpu_load_bytes(cpus));
  if (slots == nullptr || load == nullptr) {
    say(why, len, "cannot map the %s map: %s", slots ? "cpu_load" : "on_cpu", strerror(errno));
    if (slots)
      munmap(const_cast<uint32_t *>(slots), static_cast<size_t>(chunks) * sizeof(onspin_chunk));
    if (load) munmap(const_cast<uint32_t *>(load), cpu_load_bytes(cpus));
    onspin_oracle__destroy(skel);
    return false;
  }
  // Kept for the life of the process: the links hold the programs attached.
  v->slots = slots;
  v->entries = chunks * ONSPIN_SLOTS_PER_CHUNK;
  v->pinned = false;
  v->root_tid_prog = bpf_program__fd(skel->progs.onspin_root_tid);
  v->loaded = skel;
  v->cpu_load = load;
  v->cpus = static_cast<uint32_t>(cpus);
  return true;
}

} // namespace

uint32_t pid_max() noexcept {
  uint32_t n = 32768;
  if (FILE *f = std::fopen("/proc/sys/kernel/pid_max", "r")) {
    unsigned v = 0;
    if (std::fscanf(f, "%u", &v) == 1 && v > 0) n = v;
    std::fclose(f);
  }
  return n;
}

uint32_t chunks_for_pid_max() noexcept {
  return (pid_max() + ONSPIN_SLOTS_PER_CHUNK - 1) / ONSPIN_SLOTS_PER_CHUNK;
}

bool may_load() noexcept {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &hdr, data) != 0) return false;
  auto has = [&](int cap) { return (data[cap / 32].effective >> (cap % 32)) & 1u; };
  constexpr int kCapPerfmon = 38, kCapBpf = 39; // newer than some headers
  return has(CAP_SYS_ADMIN) || (has(kCapBpf) && has(kCapPerfmon));
}

// Loads the programs here if the process may; pinned_why says why the pin
// could not be used.
bool open_loaded(view *v, const char *pinned_why, char *why, size_t len) noexcept;

// Undoes open(): unmaps the map and, if it was loaded here, detaches the
// programs (they cost every context switch on the machine).
void close_view(view *v) {
  if (v->slots)
    munmap(const_cast<uint32_t *>(v->slots),
           v->entries / ONSPIN_SLOTS_PER_CHUNK * sizeof(onspin_chunk));
  if (v->cpu_load) munmap(const_cast<uint32_t *>(v->cpu_load), cpu_load_bytes(v->cpus));
  if (v->loaded)
    onspin_oracle__destroy(static_cast<onspin_oracle *>(v->loaded));
  else if (v->root_tid_prog >= 0)
    close(v->root_tid_prog);
  *v = view{};
}

// The initial PID namespace's inode number (PROC_PID_INIT_INO).
constexpr ino_t kInitPidNamespaceInode = 0xEFFFFFFCu;

bool in_child_pid_namespace(const view &v) {
  uint32_t root = root_tid(v);
  if (root != 0) return root != static_cast<uint32_t>(syscall(SYS_gettid));
  struct stat st {};
  return stat("/proc/self/ns/pid", &st) == 0 && st.st_ino != kInitPidNamespaceInode;
}

bool open(view *v, char *why, size_t len) noexcept {
  libbpf_silenced silence;
  char pinned_why[160];
  bool ok = open_pinned(v, pinned_why, sizeof pinned_why);
  if (ok)
    say(why, len, "using the pinned map %s", kPinMap);
  else
    ok = open_loaded(v, pinned_why, why, len);
  // The map is indexed by root-namespace TIDs. In a child PID namespace the
  // library keys ordinary locks by root TID, which the root_tid program
  // tells; without that program the keys would name other threads.
  if (ok && in_child_pid_namespace(*v)) {
    if (root_tid(*v) == 0) {
      say(why, len,
          "the process is in a child PID namespace and cannot run the root_tid program "
          "that maps its TIDs to the map's keys");
      close_view(v);
      return false;
    }
    v->root_keys = true;
    const size_t used = strlen(why);
    say(why + used, len - used, "; in a child PID namespace, keyed by root TIDs");
  }
  return ok;
}

bool open_loaded(view *v, const char *pinned_why, char *why, size_t len) noexcept {
  if (!may_load()) {
    say(why, len, "%s, and this process lacks CAP_BPF and CAP_PERFMON to load its own", pinned_why);
    return false;
  }
  char load_why[160];
  if (!load_here(v, load_why, sizeof load_why)) {
    say(why, len, "%s; %s", pinned_why, load_why);
    return false;
  }
  say(why, len, "loaded into this process (%s)", pinned_why);
  return true;
}

bool pin_still(uint32_t map_id) noexcept {
  const int fd = bpf_obj_get(kPinMap);
  if (fd < 0) return errno != ENOENT; // unreadable is not gone
  bpf_map_info info{};
  uint32_t info_len = sizeof(info);
  const bool same = bpf_obj_get_info_by_fd(fd, &info, &info_len) != 0 || info.id == map_id;
  close(fd);
  return same;
}

uint32_t root_tid(const view &v) noexcept {
  if (v.root_tid_prog < 0) return 0;
  LIBBPF_OPTS(bpf_test_run_opts, opts);
  if (bpf_prog_test_run_opts(v.root_tid_prog, &opts) != 0) return 0;
  return opts.retval;
}

} // namespace onspin::detail::bpf
