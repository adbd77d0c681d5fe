// The C API promises never to change errno. Slow paths make system calls
// (oracle selection, robust-list lookups, futex calls) that may set it; a
// keeper restores it when the call returns.
#pragma once

#include <cerrno>

namespace onspin::detail {

class errno_keeper {
public:
  errno_keeper() noexcept : saved_(errno) {}
  ~errno_keeper() { errno = saved_; }
  errno_keeper(const errno_keeper &) = delete;
  errno_keeper &operator=(const errno_keeper &) = delete;

private:
  int saved_;
};

} // namespace onspin::detail
