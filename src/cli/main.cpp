// onspin: inspect and administer onspin's oracles.
//   onspin run [--oracle N] [--stats] -- CMD   run CMD with onspin under its pthread locks
//   onspin status                      the oracle a process gets, and a self-check
//   onspin oracle install [--group G]  pin the bpf oracle for users in group G
//   onspin oracle remove               unpin it
#include <CLI/CLI.hpp>
#include <cstdio>
#include <string>

#include "cli/run.hpp"
#include "cli/status.hpp"
#ifdef ONSPIN_HAVE_BPF
#include "cli/oracle_admin.hpp"
#endif

int main(int argc, char **argv) {
  CLI::App app{"onspin: owner-aware userspace locks. Run programs on them; inspect and "
               "administer the oracles."};
  app.require_subcommand(1);
  onspin::cli::run_options run_opts;
  auto *run = app.add_subcommand(
      "run", "Run a program with onspin under its pthread mutexes and condition variables "
             "(LD_PRELOAD=libonspin-preload.so)");
  run->add_option("--oracle", run_opts.oracle,
                  "Oracle: auto, bpf, rseq, futex2_spin, budget or none (ONSPIN_ORACLE)");
  run->add_flag("--stats", run_opts.stats,
                "Print what onspin served, per process, at exit (ONSPIN_STATS=1)");
  run->footer("The command and its arguments follow the options, best after --.");
  // run's own parser: CLI11 would take the command's options for run's, and
  // reorders what it does not know. Everything from the first argument that
  // is not one of run's options (or after "--") is the command, untouched.
  if (argc >= 2 && std::string(argv[1]) == "run") {
    int i = 2;
    for (; i < argc; ++i) {
      const std::string a = argv[i];
      if (a == "--") {
        ++i;
        break;
      }
      if (a == "--stats") {
        run_opts.stats = true;
      } else if (a == "--oracle" && i + 1 < argc) {
        run_opts.oracle = argv[++i];
      } else if (a.rfind("--oracle=", 0) == 0) {
        run_opts.oracle = a.substr(9);
      } else if (a == "--help" || a == "-h") {
        std::printf("%s", run->help().c_str());
        return 0;
      } else if (a.rfind("-", 0) == 0) {
        std::fprintf(stderr, "onspin run: unknown option %s (see onspin run --help)\n", a.c_str());
        return 2;
      } else {
        break;
      }
    }
    run_opts.command.assign(argv + i, argv + argc);
    return onspin::cli::run(run_opts);
  }
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
