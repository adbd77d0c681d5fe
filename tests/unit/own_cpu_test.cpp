// What a waiter reads about its own CPU from the bpf program's cpu_load map
// and its own on_cpu slot, against a hand-made copy of both: crowded (one
// or two other tasks queued), alone (nothing else queued, no CPU quota, and
// a program that flags quotas), and the plan's rule for spinning past
// ONSPIN_SPIN_NS.
#include <gtest/gtest.h>
#include <sched.h>
#include <thread>
#include <unistd.h>
#include <vector>

#include "oracle/oracle.hpp"
#include "oracle/spin_plan.hpp"

namespace d = onspin::detail;

namespace {

// Every CPU's line says the same, so the test need not know where it runs;
// the own slot names the CPU the test runs on (cpu + 1), or the test sets
// other values.
struct fake_oracle {
  static constexpr uint32_t kCpus = 1024;
  uint32_t self = static_cast<uint32_t>(gettid());
  std::vector<uint32_t> load = std::vector<uint32_t>(kCpus * d::kCpuLoadStride);
  std::vector<uint32_t> slots;
  d::oracle o;

  fake_oracle() : slots(self + 1) {
    o.kind = d::oracle_kind::bpf;
    o.slots = slots.data();
    o.entries = static_cast<uint32_t>(slots.size());
    o.cpu_load = load.data();
    o.cpus = kCpus;
    set(1, d::kTellsQuota, on_here());
  }
  static uint32_t on_here() { return d::rseq::self_area()->cpu_id + 1; }
  void set(uint32_t queued, uint32_t tells, uint32_t own_slot) {
    for (uint32_t cpu = 0; cpu < kCpus; ++cpu) {
      load[cpu * d::kCpuLoadStride] = queued;
      load[cpu * d::kCpuLoadStride + d::kCpuLoadTells] = tells;
    }
    slots[self] = own_slot;
  }
};

} // namespace

class OwnCpu : public ::testing::Test {
protected:
  void SetUp() override {
    if (d::rseq::self_area() == nullptr) GTEST_SKIP() << "no rseq area: no CPU number";
  }
};

// The thread stays on one CPU while it compares (a migration in between
// would make the slot name another CPU).
void pin_to_current_cpu() {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(sched_getcpu(), &set);
  ASSERT_EQ(sched_setaffinity(0, sizeof set, &set), 0);
}

TEST_F(OwnCpu, AloneOnlyWithNothingQueuedNoQuotaAndAProgramThatFlagsQuotas) {
  std::thread t([] {
    pin_to_current_cpu();
    fake_oracle f;
    const uint32_t here = fake_oracle::on_here();
    EXPECT_TRUE(d::own_cpu_alone(f.o, f.self));
    EXPECT_FALSE(d::own_cpu_crowded(f.o));
    f.set(1, 0, here); // an older program: no word on quotas
    EXPECT_FALSE(d::own_cpu_alone(f.o, f.self));
    f.set(1, d::kTellsQuota, here | d::kSlotQuota);
    EXPECT_FALSE(d::own_cpu_alone(f.o, f.self));
    f.set(1, d::kTellsQuota, 0); // own slot unknown
    EXPECT_FALSE(d::own_cpu_alone(f.o, f.self));
    f.set(1, d::kTellsQuota, d::kSlotPreempted);
    EXPECT_FALSE(d::own_cpu_alone(f.o, f.self));
    f.set(1, d::kTellsQuota, here + 1); // another CPU: a frozen or stale slot
    EXPECT_FALSE(d::own_cpu_alone(f.o, f.self));
    f.set(1, d::kTellsQuota, here);
    EXPECT_FALSE(d::own_cpu_alone(f.o, f.o.entries)); // a key past the map
    f.o.cpu_load = nullptr;
    EXPECT_FALSE(d::own_cpu_alone(f.o, f.self));
  });
  t.join();
}

TEST_F(OwnCpu, CrowdedOnlyWithOneOrTwoOthersQueued) {
  fake_oracle f;
  for (uint32_t queued : {0u, 1u, 4u, 17u}) {
    f.set(queued, d::kTellsQuota, 1);
    EXPECT_FALSE(d::own_cpu_crowded(f.o)) << queued;
  }
  for (uint32_t queued : {2u, 3u}) {
    f.set(queued, d::kTellsQuota, 1);
    EXPECT_TRUE(d::own_cpu_crowded(f.o)) << queued;
    EXPECT_FALSE(d::own_cpu_alone(f.o, f.self)) << queued;
  }
}

TEST_F(OwnCpu, ASpinGoesPastItsLimitOnlyAloneAndWithinTheLongerOne) {
  std::thread t([] {
    pin_to_current_cpu();
    fake_oracle f;
    const uint32_t here = fake_oracle::on_here();
    d::spin_plan plan;
    plan.from = &f.o;
    plan.limit_ns = 10000;
    plan.alone_limit_ns = 100000;
    // The owner (key 1) runs on the next CPU, whose queue reads as ours.
    const uint32_t owner = 1, elsewhere = here % fake_oracle::kCpus + 1;
    f.slots[owner] = elsewhere;
    EXPECT_TRUE(plan.may_spin_on(10000, f.self, owner));
    EXPECT_TRUE(plan.may_spin_on(99999, f.self, owner));
    EXPECT_FALSE(plan.may_spin_on(100000, f.self, owner));
    f.slots[owner] = here; // names the waiter's own CPU: a stale slot
    EXPECT_FALSE(plan.may_spin_on(10000, f.self, owner));
    f.slots[owner] = elsewhere | d::kSlotQuota; // its own quota is no matter
    EXPECT_TRUE(plan.may_spin_on(10000, f.self, owner));
    f.slots[owner] = d::kSlotPreempted;
    EXPECT_FALSE(plan.may_spin_on(10000, f.self, owner));
    f.slots[owner] = elsewhere;
    f.load[(elsewhere - 1) * d::kCpuLoadStride] = 0; // an idle CPU: a stale slot
    EXPECT_FALSE(plan.may_spin_on(10000, f.self, owner));
    f.set(2, d::kTellsQuota, here);
    EXPECT_FALSE(plan.may_spin_on(10000, f.self, owner));
    plan.alone_limit_ns = 0; // not a bpf plan
    f.set(1, d::kTellsQuota, here);
    EXPECT_FALSE(plan.may_spin_on(10000, f.self, owner));
  });
  t.join();
}
