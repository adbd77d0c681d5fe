#include "cli/run.hpp"

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <elf.h>
#include <fcntl.h>
#include <string>
#include <sys/stat.h>
#include <unistd.h>

#include "config/config.hpp"

#ifndef ONSPIN_INSTALL_LIBDIR_FROM_BINDIR
#define ONSPIN_INSTALL_LIBDIR_FROM_BINDIR "../lib"
#endif

namespace onspin::cli {
namespace {

constexpr const char *kPreloadName = "libonspin-preload.so";

std::string dir_of(const std::string &path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

bool is_file(const std::string &path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// The interposer beside this tool: in the build tree, the same directory;
// installed, the library directory relative to the binary directory.
std::string find_preload() {
  char self[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "";
  self[n] = '\0';
  const std::string dir = dir_of(self);
  for (const std::string &candidate :
       {dir + "/" + kPreloadName,
        dir + "/" + ONSPIN_INSTALL_LIBDIR_FROM_BINDIR + "/" + kPreloadName})
    if (is_file(candidate)) {
      char real[PATH_MAX];
      return realpath(candidate.c_str(), real) ? std::string(real) : candidate;
    }
  return "";
}

// The file execvp would run for `name`, or "" if there is none.
std::string resolve(const std::string &name) {
  if (name.find('/') != std::string::npos) return is_file(name) ? name : "";
  const char *path = std::getenv("PATH");
  if (path == nullptr) path = "/usr/local/bin:/usr/bin:/bin";
  for (const char *p = path;; ++p) {
    const char *end = std::strchr(p, ':');
    if (end == nullptr) end = p + std::strlen(p);
    const std::string dir = end == p ? std::string(".") : std::string(p, end);
    const std::string candidate = dir + "/" + name;
    if (is_file(candidate) && access(candidate.c_str(), X_OK) == 0) return candidate;
    if (*end == '\0') return "";
    p = end;
  }
}

enum class linkage { dynamic, not_dynamic, unknown };

// Whether the ELF file asks for a dynamic loader (PT_INTERP): only then does
// LD_PRELOAD reach it. A script is judged by its interpreter.
linkage linkage_of(const std::string &path, int depth = 0) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return linkage::unknown;
  Elf64_Ehdr eh{};
  const ssize_t got = pread(fd, &eh, sizeof eh, 0);
  linkage result = linkage::unknown;
  const char *head = reinterpret_cast<const char *>(&eh);
  if (got >= 2 && head[0] == '#' && head[1] == '!' && depth == 0) {
    // "#!INTERPRETER [ARG]": the interpreter is what the loader runs.
    std::string interpreter;
    for (ssize_t i = 2; i < got && head[i] != '\n'; ++i) {
      if (head[i] == ' ' || head[i] == '\t') {
        if (interpreter.empty()) continue;
        break;
      }
      interpreter.push_back(head[i]);
    }
    close(fd);
    return interpreter.empty() ? linkage::unknown : linkage_of(interpreter, depth + 1);
  } else if (got == sizeof eh && std::memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 &&
             eh.e_ident[EI_CLASS] == ELFCLASS64) {
    result = linkage::not_dynamic;
    for (int i = 0; i < eh.e_phnum; ++i) {
      Elf64_Phdr ph{};
      if (pread(fd, &ph, sizeof ph, static_cast<off_t>(eh.e_phoff + i * eh.e_phentsize)) !=
          sizeof ph)
        break;
      if (ph.p_type == PT_INTERP) {
        result = linkage::dynamic;
        break;
      }
    }
  }
  close(fd);
  return result;
}

void warn(const char *fmt, const std::string &what) {
  std::fprintf(stderr, "onspin run: ");
  std::fprintf(stderr, fmt, what.c_str());
  std::fputc('\n', stderr);
}

} // namespace

int run(const run_options &o) {
  if (o.command.empty()) {
    std::fprintf(stderr, "onspin run: no command given (onspin run [--oracle NAME] [--stats] -- "
                         "COMMAND ARGS...)\n");
    return 2;
  }
  detail::oracle_request request;
  if (!o.oracle.empty() && !detail::parse_oracle(o.oracle.c_str(), &request)) {
    std::fprintf(stderr,
                 "onspin run: unknown oracle '%s' (auto, bpf, rseq, futex2_spin, budget, "
                 "none)\n",
                 o.oracle.c_str());
    return 2;
  }
  const std::string preload = find_preload();
  if (preload.empty()) {
    std::fprintf(stderr, "onspin run: cannot find %s beside this tool or in ../%s\n", kPreloadName,
                 ONSPIN_INSTALL_LIBDIR_FROM_BINDIR);
    return 126;
  }
  if (preload.find_first_of(" :") != std::string::npos) {
    // LD_PRELOAD separates its entries with spaces and colons.
    std::fprintf(stderr, "onspin run: %s: LD_PRELOAD cannot name a path with a space or ':'\n",
                 preload.c_str());
    return 126;
  }
  const std::string &name = o.command[0];
  const std::string file = resolve(name);
  if (file.empty()) {
    warn("%s: command not found", name);
    return 127;
  }
  // Cases where the loader ignores LD_PRELOAD: say so rather than run the
  // program silently without onspin.
  // The loader runs a program in secure mode, ignoring LD_PRELOAD, when its
  // set-user-ID or set-group-ID bit changes the caller's IDs.
  struct stat st {};
  if (stat(file.c_str(), &st) == 0 && (((st.st_mode & S_ISUID) && st.st_uid != getuid()) ||
                                       ((st.st_mode & S_ISGID) && st.st_gid != getgid())))
    warn("%s is set-user-ID or set-group-ID: the loader ignores LD_PRELOAD for it, so its "
         "locks are glibc's",
         file);
  if (linkage_of(file) == linkage::not_dynamic)
    warn("%s is not dynamically linked: LD_PRELOAD cannot reach it, so its locks are not "
         "onspin's",
         file);

  std::string preloads = preload;
  if (const char *old = std::getenv("LD_PRELOAD"); old && *old) preloads += std::string(":") + old;
  setenv("LD_PRELOAD", preloads.c_str(), 1);
  if (!o.oracle.empty()) setenv("ONSPIN_ORACLE", o.oracle.c_str(), 1);
  if (o.stats) setenv("ONSPIN_STATS", "1", 1);

  std::vector<char *> argv;
  for (const std::string &a : o.command)
    argv.push_back(const_cast<char *>(a.c_str()));
  argv.push_back(nullptr);
  execv(file.c_str(), argv.data());
  int err = errno;
  if (err == ENOEXEC) {
    // A script without "#!": the shell runs it, as execvp does.
    argv.insert(argv.begin(), const_cast<char *>("/bin/sh"));
    argv[1] = const_cast<char *>(file.c_str());
    execv("/bin/sh", argv.data());
    err = errno;
  }
  std::fprintf(stderr, "onspin run: cannot run %s: %s\n", file.c_str(), std::strerror(err));
  return err == ENOENT ? 127 : 126;
}

} // namespace onspin::cli
