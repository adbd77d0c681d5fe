// onspin: inspect and administer onspin's oracles.
//   onspin status                      the oracle a process gets, and a self-check
//   onspin oracle install [--group G]  pin the bpf oracle for users in group G
//   onspin oracle remove               unpin it
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "cli/status.hpp"
#ifdef ONSPIN_HAVE_BPF
#include "cli/oracle_admin.hpp"
#endif

int main(int argc, char **argv) {
  CLI::App app{"onspin: owner-aware userspace locks. Inspect and administer the oracles."};
  app.require_subcommand(1);
  auto *status = app.add_subcommand("status", "Show the oracle a program linking onspin gets, "
                                              "why, and check that its answers are live");
  auto *oracle = app.add_subcommand("oracle", "Install or remove the pinned bpf oracle");
  oracle->require_subcommand(1);
  std::string group = "root";
  auto *install = oracle->add_subcommand(
      "install", "Load the eBPF programs and pin them with a frozen map under /sys/fs/bpf/onspin "
                 "(root)");
  install->add_option("--group", group, "Group allowed to use the oracle")->capture_default_str();
  auto *remove = oracle->add_subcommand("remove", "Unpin the bpf oracle (root)");
  CLI11_PARSE(app, argc, argv);

  std::string err;
  int rc = 0;
  if (status->parsed()) {
    rc = onspin::cli::print_status();
  } else {
#ifdef ONSPIN_HAVE_BPF
    if (install->parsed()) {
      rc = onspin::cli::install_oracle(group, &err);
      if (rc == 0)
        std::printf("installed: /sys/fs/bpf/onspin, usable by group %s\n", group.c_str());
    } else if (remove->parsed()) {
      rc = onspin::cli::remove_oracle(&err);
      if (rc == 0) std::printf("removed /sys/fs/bpf/onspin\n");
    }
#else
    (void)install;
    (void)remove;
    rc = 1;
    err = "this build of onspin has no bpf oracle (it was built without clang, bpftool, libbpf "
          "or kernel BTF)";
#endif
  }
  if (rc != 0 && !err.empty()) std::fprintf(stderr, "onspin: %s\n", err.c_str());
  return rc;
}
