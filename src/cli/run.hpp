// `onspin run [--oracle NAME] [--stats] -- COMMAND ARGS...`: runs COMMAND
// with onspin under its pthread mutexes and condition variables, through
// the LD_PRELOAD interposer (libonspin-preload.so).
#pragma once

#include <string>
#include <vector>

namespace onspin::cli {

struct run_options {
  std::string oracle; // empty: the default (ONSPIN_ORACLE, else auto)
  bool stats = false;
  std::vector<std::string> command;
};

// Replaces this process with the command. Returns only on failure, with
// the exit status to use (127: not found, 126: not runnable, 2: usage).
int run(const run_options &o);

} // namespace onspin::cli
