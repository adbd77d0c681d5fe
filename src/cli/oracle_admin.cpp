#include "cli/oracle_admin.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <cerrno>
#include <cstring>
#include <grp.h>
#include <linux/magic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "oracle.skel.h"
#include "oracle/bpf/bpf_oracle.hpp"

namespace onspin::cli {
namespace bpf = onspin::detail::bpf;
namespace {

std::string errno_text(int e) { return std::strerror(e < 0 ? -e : e); }

bool fail(std::string *err, const std::string &text) {
  *err = text;
  return false;
}

bool require_root(std::string *err) {
  if (geteuid() == 0 && bpf::may_load()) return true;
  return fail(err, "must run as root: installing needs CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN");
}

// bpffs must be mounted at /sys/fs/bpf for pins; mount it if it is not.
bool ensure_bpffs(std::string *err) {
  struct statfs st {};
  if (statfs("/sys/fs/bpf", &st) == 0 && st.f_type == BPF_FS_MAGIC) return true;
  if (mount("bpf", "/sys/fs/bpf", "bpf", 0, "mode=0755") == 0) return true;
  return fail(err, "bpffs is not mounted at /sys/fs/bpf and mounting it failed (" +
                       errno_text(errno) + "); mount it with: mount -t bpf bpf /sys/fs/bpf");
}

bool set_owner(const char *path, gid_t gid, mode_t mode, std::string *err) {
  if (chown(path, 0, gid) == 0 && chmod(path, mode) == 0) return true;
  return fail(err,
              std::string("cannot set the owner or mode of ") + path + ": " + errno_text(errno));
}

bool remove_pins(std::string *err) {
  for (const char *p : {bpf::kPinSwitch, bpf::kPinExit, bpf::kPinWakeup, bpf::kPinWakeupNew,
                        bpf::kPinMigrate, bpf::kPinRootTid, bpf::kPinCpuLoad, bpf::kPinMap})
    if (unlink(p) != 0 && errno != ENOENT)
      return fail(err, std::string("cannot remove ") + p + ": " + errno_text(errno));
  if (rmdir(bpf::kPinDir) != 0 && errno != ENOENT)
    return fail(err, std::string("cannot remove ") + bpf::kPinDir + ": " + errno_text(errno));
  return true;
}

int quiet(enum libbpf_print_level level, const char *fmt, va_list ap) {
  return level == LIBBPF_WARN ? vfprintf(stderr, fmt, ap) : 0;
}

bool install(const std::string &group, std::string *err) {
  if (!require_root(err)) return false;
  struct group *g = getgrnam(group.c_str());
  if (g == nullptr)
    return fail(err, "no group named '" + group + "': create it (groupadd " + group +
                         ") or choose one with --group");
  const gid_t gid = g->gr_gid;
  if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
    return fail(err, "this kernel has no BTF (/sys/kernel/btf/vmlinux): the tp_btf program "
                     "needs CONFIG_DEBUG_INFO_BTF=y");
  if (!ensure_bpffs(err)) return false;
  if (!remove_pins(err)) return false; // reinstalling replaces an older install

  libbpf_set_print(quiet);
  onspin_oracle *skel = onspin_oracle__open();
  if (skel == nullptr) return fail(err, "cannot open the eBPF object: " + errno_text(errno));
  struct cleanup {
    onspin_oracle *s;
    ~cleanup() { onspin_oracle__destroy(s); } // the pins keep everything alive
  } guard{skel};
  const int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return fail(err, "cannot count the possible CPUs: " + errno_text(cpus));
  int e = bpf_map__set_max_entries(skel->maps.on_cpu, bpf::chunks_for_pid_max());
  if (!e) e = bpf_map__set_max_entries(skel->maps.cpu_load, static_cast<uint32_t>(cpus));
  if (!e) e = onspin_oracle__load(skel);
  if (e)
    return fail(err, "loading the eBPF programs failed (" + errno_text(e) +
                         "); the kernel may be too old (tp_btf needs Linux 5.5, "
                         "BPF_F_MMAPABLE 5.5, syscall programs 5.14)");
  if ((e = onspin_oracle__attach(skel)))
    return fail(err, "attaching the programs failed: " + errno_text(e));

  if (mkdir(bpf::kPinDir, 0750) != 0 && errno != EEXIST)
    return fail(err, std::string("cannot create ") + bpf::kPinDir + ": " + errno_text(errno));
  if ((e = bpf_map__pin(skel->maps.on_cpu, bpf::kPinMap)) ||
      (e = bpf_map__pin(skel->maps.cpu_load, bpf::kPinCpuLoad)) ||
      (e = bpf_link__pin(skel->links.onspin_switch, bpf::kPinSwitch)) ||
      (e = bpf_link__pin(skel->links.onspin_exit, bpf::kPinExit)) ||
      (e = bpf_link__pin(skel->links.onspin_wakeup, bpf::kPinWakeup)) ||
      (e = bpf_link__pin(skel->links.onspin_wakeup_new, bpf::kPinWakeupNew)) ||
      (e = bpf_link__pin(skel->links.onspin_migrate, bpf::kPinMigrate)) ||
      (e = bpf_program__pin(skel->progs.onspin_root_tid, bpf::kPinRootTid))) {
    std::string ignored;
    remove_pins(&ignored);
    return fail(err, "pinning under " + std::string(bpf::kPinDir) + " failed: " + errno_text(e));
  }
  // Frozen: the program still writes the map, no process can through the
  // syscall or a writable mapping, so no user can forge another's state.
  if (bpf_map_freeze(bpf_map__fd(skel->maps.on_cpu)) != 0 ||
      bpf_map_freeze(bpf_map__fd(skel->maps.cpu_load)) != 0) {
    std::string ignored;
    remove_pins(&ignored);
    return fail(err, "freezing the map failed: " + errno_text(errno));
  }
  // The group may open the map (read-write opens are what mmap needs; the
  // freeze makes them read-only in effect) and run the root-TID program.
  // Links stay root's: whoever holds a link could detach the programs.
  if (!set_owner(bpf::kPinDir, gid, 0750, err) || !set_owner(bpf::kPinMap, gid, 0660, err) ||
      !set_owner(bpf::kPinCpuLoad, gid, 0660, err) || !set_owner(bpf::kPinRootTid, gid, 0660, err))
    return false;
  for (const char *link :
       {bpf::kPinSwitch, bpf::kPinExit, bpf::kPinWakeup, bpf::kPinWakeupNew, bpf::kPinMigrate})
    if (!set_owner(link, 0, 0600, err)) return false;
  return true;
}

} // namespace

int install_oracle(const std::string &group, std::string *err) {
  return install(group, err) ? 0 : 1;
}

int remove_oracle(std::string *err) {
  if (geteuid() != 0) {
    *err = "must run as root to remove the pins under " + std::string(bpf::kPinDir);
    return 1;
  }
  return remove_pins(err) ? 0 : 1;
}

} // namespace onspin::cli
