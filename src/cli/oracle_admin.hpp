// `onspin oracle install|remove`: the administrator's side of the bpf oracle.
#pragma once

#include <string>

namespace onspin::cli {

// Loads the eBPF programs, pins programs, links and the frozen map under
// /sys/fs/bpf/onspin/, and lets `group` map it. Returns 0, or 1 with a
// message in *err saying what to do.
int install_oracle(const std::string &group, std::string *err);

// Unpins everything install created. Running processes keep working: their
// mapping stays valid and they fall back to budget when they notice.
int remove_oracle(std::string *err);

} // namespace onspin::cli
