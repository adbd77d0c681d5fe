// pingpong: two threads hand a token back and forth through futexes, so every
// hand-off is two context switches. Reports round trips per second; run it
// with and without the bpf oracle attached to see what the sched_switch
// program costs each switch.
//   pingpong [--seconds S]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <thread>
#include <unistd.h>

namespace {

std::atomic<uint32_t> turn{0};

void wait_for(uint32_t mine) {
  for (;;) {
    uint32_t t = turn.load();
    if (t == mine) return;
    syscall(SYS_futex, &turn, FUTEX_WAIT_PRIVATE, t, nullptr, nullptr, 0);
  }
}

void pass_to(uint32_t other) {
  turn.store(other);
  syscall(SYS_futex, &turn, FUTEX_WAKE_PRIVATE, 1, nullptr, nullptr, 0);
}

} // namespace

int main(int argc, char **argv) {
  double seconds = 1;
  if (argc == 3 && !std::strcmp(argv[1], "--seconds"))
    seconds = std::atof(argv[2]);
  else if (argc != 1) {
    std::fprintf(stderr, "usage: %s [--seconds S]\n", argv[0]);
    return 1;
  }
  std::atomic<bool> stop{false};
  long rounds = 0;
  std::thread other([&] {
    for (;;) {
      wait_for(1);
      if (stop.load()) {
        pass_to(0);
        return;
      }
      pass_to(0);
    }
  });
  auto t0 = std::chrono::steady_clock::now();
  auto end = t0 + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    pass_to(1);
    wait_for(0);
    ++rounds;
  }
  stop = true;
  pass_to(1);
  wait_for(0);
  other.join();
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("round_trips_per_s=%.0f\n", rounds / s);
  return 0;
}
