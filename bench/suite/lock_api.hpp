// Every lock in the benchmark is driven through this one interface, so the
// work around the lock (a virtual call each way) is the same for all peers.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace bench {

struct lock_under_test {
  virtual ~lock_under_test() = default;
  virtual void lock() = 0;
  virtual void unlock() = 0;
};

struct peer {
  std::string name;   // as reported, e.g. "glibc default"
  std::string family; // "onspin", "sleeping", "spinning", "hybrid"
  std::function<std::unique_ptr<lock_under_test>()> make;
};

// Each peers_*.cpp adds its locks.
void add_glibc_peers(std::vector<peer> &out);
void add_library_peers(std::vector<peer> &out);
void add_handmade_peers(std::vector<peer> &out);
void add_onspin_peers(std::vector<peer> &out);

// Wraps any type with lock()/unlock().
template <class L> struct adapter final : lock_under_test {
  L l;
  void lock() override { l.lock(); }
  void unlock() override { l.unlock(); }
};

template <class L> peer make_peer(std::string name, std::string family) {
  return {std::move(name), std::move(family), [] { return std::make_unique<adapter<L>>(); }};
}

} // namespace bench
