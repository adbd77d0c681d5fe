// C++ example: a producer hands items to a consumer through a queue guarded
// by onspin::mutex and onspin::condition_variable.
#include <cstdio>
#include <deque>
#include <mutex>
#include <onspin/condition_variable.hpp>
#include <onspin/mutex.hpp>
#include <thread>

int main() {
  onspin::mutex m;
  onspin::condition_variable ready;
  std::deque<int> items;
  bool done = false;

  std::thread producer([&] {
    for (int i = 1; i <= 1000; ++i) {
      std::lock_guard<onspin::mutex> g(m);
      items.push_back(i);
      ready.notify_one();
    }
    std::lock_guard<onspin::mutex> g(m);
    done = true;
    ready.notify_all();
  });

  long sum = 0;
  std::unique_lock<onspin::mutex> lk(m);
  for (;;) {
    ready.wait(lk, [&] { return !items.empty() || done; });
    if (items.empty()) break;
    sum += items.front();
    items.pop_front();
  }
  lk.unlock();
  producer.join();
  std::printf("sum = %ld (expected 500500)\n", sum);
  return sum == 500500 ? 0 : 1;
}
