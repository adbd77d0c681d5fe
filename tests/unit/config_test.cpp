// Configuration from the environment: valid values take effect, invalid ones
// produce exactly one clear stderr line and the default, never a failure.
#include <array>
#include <cstdio>
#include <gtest/gtest.h>
#include <string>

#include "config/config.hpp"
#include "oracle/rseq/registry.hpp"
#include "platform/futex.hpp"

using namespace onspin::detail;

namespace {

struct result {
  int status;
  std::string out; // stdout and stderr together
};

// Runs the C probe program with the given environment assignments.
result probe(const std::string &env, const std::string &args = "") {
  std::string cmd =
      "env -u ONSPIN_ORACLE -u ONSPIN_SPIN_NS -u ONSPIN_SPIN_ALONE_NS -u ONSPIN_STATS "
      "-u ONSPIN_SPINNERS " +
      env + " " + ONSPIN_ENV_PROBE + " " + args + " 2>&1";
  FILE *p = popen(cmd.c_str(), "r");
  result r{-1, ""};
  if (!p) return r;
  std::array<char, 512> buf;
  while (fgets(buf.data(), buf.size(), p))
    r.out += buf.data();
  r.status = pclose(p);
  return r;
}

int count_lines_with(const std::string &text, const std::string &needle) {
  int n = 0;
  for (size_t pos = 0; (pos = text.find(needle, pos)) != std::string::npos; ++pos)
    ++n;
  return n;
}

} // namespace

TEST(Config, ParsesOracleNames) {
  oracle_request r = oracle_request::auto_;
  EXPECT_TRUE(parse_oracle("none", &r));
  EXPECT_EQ(r, oracle_request::none);
  EXPECT_TRUE(parse_oracle("budget", &r));
  EXPECT_EQ(r, oracle_request::budget);
  EXPECT_FALSE(parse_oracle("Budget", &r));
  EXPECT_FALSE(parse_oracle("", &r));
  EXPECT_EQ(r, oracle_request::budget) << "unchanged after a bad value";
}

// ONSPIN_PREEMPTED and ONSPIN_CROWDED.
TEST(Config, ParsesWaiterActions) {
  waiter_action a = waiter_action::yield;
  EXPECT_TRUE(parse_action("sleep", &a));
  EXPECT_EQ(a, waiter_action::sleep);
  EXPECT_TRUE(parse_action("spin", &a));
  EXPECT_EQ(a, waiter_action::spin);
  EXPECT_TRUE(parse_action("yield", &a));
  EXPECT_EQ(a, waiter_action::yield);
  EXPECT_FALSE(parse_action("Yield", &a));
  EXPECT_FALSE(parse_action("", &a));
  EXPECT_EQ(a, waiter_action::yield) << "unchanged after a bad value";
}

TEST(Config, ParsesNumbersStrictly) {
  uint32_t v = 7;
  EXPECT_TRUE(parse_uint("0", 0, 10, &v));
  EXPECT_EQ(v, 0u);
  EXPECT_TRUE(parse_uint("10", 0, 10, &v));
  EXPECT_EQ(v, 10u);
  for (const char *bad : {"", "11", "-1", " 5", "5 ", "5ns", "0x5", "99999999999999999999"})
    EXPECT_FALSE(parse_uint(bad, 0, 10, &v)) << bad;
  EXPECT_EQ(v, 10u);
}

TEST(Config, ValidOracleIsUsed) {
  result r = probe("ONSPIN_ORACLE=none");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("oracle=none"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("onspin:"), std::string::npos) << "no diagnostics: " << r.out;
}

// rseq and futex2_spin need the patched kernel (kernel/run-tests runs this
// suite there too); the bpf oracle's own tests cover bpf.
TEST(Config, KernelOraclesAreUsedOrFallBackWithAReason) {
  const char *why;
  const struct {
    const char *name;
    bool available;
  } cases[] = {{"rseq", onspin::detail::rseq::kernel_advertises(&why)},
               {"futex2_spin", onspin::detail::futex2_spin_supported(&why)}};
  for (const auto &c : cases) {
    result r = probe(std::string("ONSPIN_ORACLE=") + c.name);
    EXPECT_EQ(r.status, 0);
    const std::string want = std::string("oracle=") + (c.available ? c.name : "budget");
    EXPECT_NE(r.out.find(want), std::string::npos) << want << ": " << r.out;
    EXPECT_NE(r.out.find(c.name), std::string::npos) << "reason names the request: " << r.out;
  }
}

TEST(Config, InvalidValuesGiveOneLineEachAndDefaults) {
  result r = probe("ONSPIN_ORACLE=fastest ONSPIN_SPIN_NS=-3 ONSPIN_STATS=yes ONSPIN_SPINNERS=0 "
                   "ONSPIN_PREEMPTED=wait ONSPIN_SPIN_ALONE_NS=1e5",
                   "contend");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(count_lines_with(r.out, "onspin: "), 6) << r.out;
  EXPECT_NE(r.out.find("ONSPIN_SPIN_ALONE_NS=\"1e5\" is invalid (valid: whole nanoseconds from 0 "
                       "to 100000000); using 100000"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("ONSPIN_PREEMPTED=\"wait\" is invalid (valid: yield, sleep, spin); using "
                       "yield"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("ONSPIN_ORACLE=\"fastest\" is invalid (valid: auto, bpf, rseq, futex2_spin, "
                       "budget, none)"),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("ONSPIN_SPIN_NS=\"-3\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ONSPIN_STATS=\"yes\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ONSPIN_SPINNERS=\"0\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("reason=auto"), std::string::npos) << "auto is used: " << r.out;
}

TEST(Config, StatsAtExit) {
  result r = probe("ONSPIN_STATS=1 ONSPIN_ORACLE=budget", "contend");
  EXPECT_EQ(r.status, 0);
  EXPECT_NE(r.out.find("onspin: oracle=budget contended=1 "), std::string::npos) << r.out;
  result quiet = probe("ONSPIN_STATS=0", "contend");
  EXPECT_EQ(quiet.out.find("contended="), std::string::npos) << quiet.out;
}
