#include "platform/robust_list.hpp"

#include <cstddef>
#include <linux/futex.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "platform/errno_keeper.hpp"

namespace onspin::detail {

struct robust_head : robust_list_head {};

namespace {

// The list's futex_offset: from an entry (the address of robust_next) back to
// the lock word.
constexpr long kFutexOffset = static_cast<long>(offsetof(onspin_mutex_t, word)) -
                              static_cast<long>(offsetof(onspin_mutex_t, robust_next));
static_assert(kFutexOffset == -32, "glibc's robust-list layout puts the link 32 bytes on");
static_assert(offsetof(onspin_mutex_t, robust_next) - offsetof(onspin_mutex_t, robust_prev) ==
                  sizeof(void *),
              "prev must precede next, as in glibc's __pthread_list_t");

// A head of our own for threads that glibc did not register (no such thread
// in practice with glibc >= 2.10). The word before it stands for glibc's
// `robust_prev`, which dequeue writes when the list's first entry goes away.
struct own_head {
  void *prev_slot;
  robust_list_head head;
};
__thread own_head tls_own_head;
__thread robust_head *tls_head = nullptr;
__thread bool tls_head_checked = false;

// The kernel forgets a child's list at fork(); glibc re-registers its own.
void reregister_own_head_in_child() noexcept {
  if (tls_head == reinterpret_cast<robust_head *>(&tls_own_head.head)) {
    tls_own_head.head.list.next = &tls_own_head.head.list;
    tls_own_head.head.list_op_pending = nullptr;
    syscall(SYS_set_robust_list, &tls_own_head.head, sizeof(robust_list_head));
  }
}

[[gnu::constructor]] void install_fork_handler() {
  pthread_atfork(nullptr, nullptr, reregister_own_head_in_child);
}

robust_head *find_head() noexcept {
  const errno_keeper keep_errno;
  robust_list_head *head = nullptr;
  size_t len = 0;
  if (syscall(SYS_get_robust_list, 0, &head, &len) != 0) return nullptr;
  if (head == nullptr) {
    own_head &own = tls_own_head;
    own.head.list.next = &own.head.list;
    own.head.futex_offset = kFutexOffset;
    own.head.list_op_pending = nullptr;
    if (syscall(SYS_set_robust_list, &own.head, sizeof(robust_list_head)) != 0) return nullptr;
    return static_cast<robust_head *>(&own.head);
  }
  if (len != sizeof(robust_list_head) || head->futex_offset != kFutexOffset) return nullptr;
  return static_cast<robust_head *>(head);
}

// An entry is the address of a `next` field; its `prev` field is the word
// before it (glibc's QUEUE_PTR_ADJUST).
void **prev_field_of(void *entry) noexcept {
  return reinterpret_cast<void **>(reinterpret_cast<uintptr_t>(entry) & ~uintptr_t{1}) - 1;
}

} // namespace

robust_head *self_robust_head() noexcept {
  if (!tls_head_checked) {
    tls_head = find_head();
    tls_head_checked = true;
  }
  return tls_head;
}

void robust_set_pending(robust_head *head, onspin_mutex_t *m) noexcept {
  head->list_op_pending = reinterpret_cast<robust_list *>(&m->robust_next);
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
}

void robust_clear_pending(robust_head *head) noexcept {
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  head->list_op_pending = nullptr;
}

void robust_link(robust_head *head, onspin_mutex_t *m) noexcept {
  void *first = head->list.next;
  *prev_field_of(first) = &m->robust_next;
  m->robust_next = first;
  m->robust_prev = &head->list;
  // The entry must be complete before the kernel can reach it from the head.
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  head->list.next = reinterpret_cast<robust_list *>(&m->robust_next);
}

void robust_unlink(onspin_mutex_t *m) noexcept {
  void *next = m->robust_next;
  void *prev = m->robust_prev;
  *prev_field_of(next) = prev;
  *reinterpret_cast<void **>(reinterpret_cast<uintptr_t>(prev) & ~uintptr_t{1}) = next;
  m->robust_prev = nullptr;
  m->robust_next = nullptr;
}

} // namespace onspin::detail
