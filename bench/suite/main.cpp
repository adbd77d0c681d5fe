// onspin-bench: every lock, every scenario, repetitions interleaved (for each
// scenario: rep 1 of every lock, then rep 2, ...), so that the machine's
// noise falls on all locks alike. Writes runs.csv (one row per run),
// latency.csv (quantiles of each run's sampled lock() times) and machine.txt
// into the output folder; report.py turns them into report.md and plots.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <gnu/libc-version.h>
#include <onspin/onspin.h>
#include <sys/utsname.h>
#include <thread>

#include "busy_work.hpp"
#include "lock_api.hpp"
#include "run.hpp"
#include "scenario.hpp"

namespace {

double quantile(const std::vector<uint32_t> &sorted, double q) {
  if (sorted.empty()) return NAN;
  size_t i = static_cast<size_t>(q * (sorted.size() - 1));
  return sorted[i];
}

// Jain's fairness index over per-thread acquisitions: 1 = perfectly even,
// 1/n = one thread got everything.
double jain(const std::vector<uint64_t> &v) {
  double sum = 0, sq = 0;
  for (uint64_t x : v) {
    sum += x;
    sq += static_cast<double>(x) * x;
  }
  return sq == 0 ? 1 : sum * sum / (static_cast<double>(v.size()) * sq);
}

void write_machine(const std::string &path, double turns_per_ns) {
  std::ofstream m(path);
  utsname u{};
  uname(&u);
  m << "cpus: " << std::thread::hardware_concurrency() << "\n"
    << "kernel: " << u.release << "\n"
    << "glibc: " << gnu_get_libc_version() << "\n"
    << "onspin oracle: " << onspin_oracle_name() << "\n"
    << "onspin oracle reason: " << onspin_oracle_reason() << "\n"
    << "work loop turns per ns: " << turns_per_ns << "\n";
}

} // namespace

int main(int argc, char **argv) {
  CLI::App app{"onspin-bench: onspin against its peers, scenario by scenario"};
  std::string out = "results", filter, locks_filter;
  bool full = false;
  double duration = 0;
  int reps = 0;
  app.add_option("--out", out, "Folder for runs.csv, latency.csv and machine.txt");
  app.add_flag("--full", full, "Every scenario the report plots, longer runs (about 25 min)");
  app.add_option("--duration", duration, "Seconds per run (default 0.15 quick, 0.5 full)")
      ->check(CLI::Range(0.01, 60.0));
  app.add_option("--reps", reps, "Repetitions per lock and scenario (default 3 quick, 5 full)")
      ->check(CLI::Range(1, 50));
  app.add_option("--scenarios", filter,
                 "Only scenarios whose name contains this text (or is it, ending in $)");
  app.add_option("--locks", locks_filter, "Only locks whose name contains this text");
  CLI11_PARSE(app, argc, argv);
  if (duration == 0) duration = full ? 0.5 : 0.15;
  if (reps == 0) reps = full ? 5 : 3;

  std::vector<bench::peer> peers;
  bench::add_onspin_peers(peers);
  bench::add_glibc_peers(peers);
  bench::add_library_peers(peers);
  bench::add_handmade_peers(peers);
  if (!locks_filter.empty())
    std::erase_if(peers, [&](auto &p) { return p.name.find(locks_filter) == std::string::npos; });
  auto list = bench::scenarios(full);
  if (!filter.empty() && filter.back() == '$')
    std::erase_if(list, [&](auto &s) { return s.name != filter.substr(0, filter.size() - 1); });
  else if (!filter.empty())
    std::erase_if(list, [&](auto &s) { return s.name.find(filter) == std::string::npos; });
  if (peers.empty() || list.empty()) {
    std::fprintf(stderr, "onspin-bench: nothing to run (check --locks and --scenarios)\n");
    return 1;
  }

  std::error_code ec;
  std::filesystem::create_directories(out, ec);
  if (ec) {
    std::fprintf(stderr, "onspin-bench: cannot create %s: %s\n", out.c_str(), ec.message().c_str());
    return 1;
  }
  const double tpn = bench::turns_per_ns();
  write_machine(out + "/machine.txt", tpn);
  std::ofstream runs(out + "/runs.csv"), lat(out + "/latency.csv");
  runs << "scenario,pattern,threads,inside_ns,lock,family,rep,seconds,acquisitions,acq_per_s,"
          "cpu_ns_per_acq,csw_per_acq,lat_p50_ns,lat_p99_ns,lat_p999_ns,jain,min_share,"
          "onspin_contended,onspin_spin_acquired,onspin_owner_off,onspin_futex_waits,"
          "onspin_yields,condition,onspin_spin_alone\n";
  lat << "scenario,lock,rep,quantile,ns\n";

  int failures = 0;
  for (size_t si = 0; si < list.size(); ++si) {
    const auto &s = list[si];
    std::fprintf(stderr, "[%zu/%zu] %s\n", si + 1, list.size(), s.name.c_str());
    const bench::condition_scope scope(s.cond);
    if (!scope.ready()) {
      std::fprintf(stderr, "onspin-bench: skipping %s: %s\n", s.name.c_str(), scope.why().c_str());
      continue;
    }
    for (int rep = 1; rep <= reps; ++rep)
      for (const auto &p : peers) {
        bench::run_result r = bench::run_once(p, s, duration, tpn);
        if (!r.exclusion_held) {
          std::fprintf(stderr, "onspin-bench: MUTUAL EXCLUSION VIOLATED by %s in %s\n",
                       p.name.c_str(), s.name.c_str());
          ++failures;
        }
        const double n = r.acquisitions ? static_cast<double>(r.acquisitions) : 1;
        uint64_t least = *std::min_element(r.per_thread.begin(), r.per_thread.end());
        const bool mine = p.family == "onspin";
        char row[1024];
        std::snprintf(
            row, sizeof row,
            "\"%s\",%s,%d,%d,\"%s\",%s,%d,%.4f,%llu,%.1f,%.1f,%.5f,%.0f,%.0f,%.0f,%.4f,"
            "%.5f,%llu,%llu,%llu,%llu,%llu,%s,%llu\n",
            s.name.c_str(), bench::pattern_name(s.kind), s.threads, s.inside_ns, p.name.c_str(),
            p.family.c_str(), rep, r.seconds, (unsigned long long)r.acquisitions,
            r.acquisitions / r.seconds, r.cpu_seconds * 1e9 / n, r.context_switches / n,
            quantile(r.latency_ns, 0.5), quantile(r.latency_ns, 0.99),
            quantile(r.latency_ns, 0.999), jain(r.per_thread), least / (n / s.threads),
            (unsigned long long)(mine ? r.onspin.contended : 0),
            (unsigned long long)(mine ? r.onspin.spin_acquired : 0),
            (unsigned long long)(mine ? r.onspin.spin_stop_owner_off : 0),
            (unsigned long long)(mine ? r.onspin.futex_waits : 0),
            (unsigned long long)(mine ? r.onspin.yields : 0), bench::condition_name(s.cond),
            (unsigned long long)(mine ? r.onspin.spin_alone : 0));
        runs << row;
        for (int q = 1; q <= 99; ++q)
          lat << '"' << s.name << "\",\"" << p.name << "\"," << rep << ',' << q / 100.0 << ','
              << quantile(r.latency_ns, q / 100.0) << '\n';
        for (double q : {0.995, 0.999})
          lat << '"' << s.name << "\",\"" << p.name << "\"," << rep << ',' << q << ','
              << quantile(r.latency_ns, q) << '\n';
      }
  }
  return failures ? 2 : 0;
}
