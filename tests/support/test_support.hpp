// Helpers shared by onspin's tests.
#pragma once

#include <chrono>
#include <ctime>
#include <functional>
#include <onspin/onspin.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace onspin::test {

// An absolute time `ms` milliseconds from now on `clock` (negative: in the
// past), always normalised: tv_nsec in [0, 1e9).
inline timespec in_ms(long ms, clockid_t clock = CLOCK_MONOTONIC) {
  timespec ts;
  clock_gettime(clock, &ts);
  long long ns = static_cast<long long>(ts.tv_sec) * 1000000000LL + ts.tv_nsec + ms * 1000000LL;
  ts.tv_sec = static_cast<time_t>(ns / 1000000000LL);
  ts.tv_nsec = static_cast<long>(ns % 1000000000LL);
  return ts;
}

inline bool reached(const timespec &ts, clockid_t clock) {
  timespec now;
  clock_gettime(clock, &now);
  return now.tv_sec > ts.tv_sec || (now.tv_sec == ts.tv_sec && now.tv_nsec >= ts.tv_nsec);
}

// Runs fn(i) on n threads and joins them.
inline void run_threads(int n, const std::function<void(int)> &fn) {
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (int i = 0; i < n; ++i)
    threads.emplace_back(fn, i);
  for (auto &t : threads)
    t.join();
}

// Memory that a fork()ed child shares with its parent.
template <class T> T *shared_object() {
  void *p = mmap(nullptr, sizeof(T), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  return new (p) T();
}
template <class T> void free_shared(T *p) { munmap(p, sizeof(T)); }

// Forks; the child runs fn and exits with its return value. Returns the pid.
inline pid_t fork_child(const std::function<int()> &fn) {
  pid_t pid = fork();
  if (pid == 0) _exit(fn());
  return pid;
}

// Waits for pid for at most `seconds`, killing it after that. Returns its
// exit status, or -1 if it had to be killed or died of a signal.
inline int wait_child(pid_t pid, int seconds = 60) {
  for (int i = 0; i < seconds * 100; ++i) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(pid, SIGKILL);
  waitpid(pid, nullptr, 0);
  return -1;
}

// Busy work the compiler cannot remove: n empty loop turns.
inline void burn(int n) {
  for (int i = 0; i < n; ++i)
    asm volatile("" ::: "memory");
}

// Threads inside a wait on c that have not left it yet (onspin_cond_t::refs,
// low 31 bits).
inline uint32_t cond_waiters(onspin_cond_t &c) {
  return static_cast<uint32_t>(__atomic_load_n(&c.refs, __ATOMIC_SEQ_CST) & 0x7fffffffu);
}

inline onspin_stats stats() {
  onspin_stats s{};
  onspin_stats_get(&s);
  return s;
}

} // namespace onspin::test
