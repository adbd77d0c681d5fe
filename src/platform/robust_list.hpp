// The per-thread robust futex list (set_robust_list(2)), shared with glibc.
//
// glibc registers one list head per thread and links its robust mutexes
// through a {prev, next} pair whose `next` lies futex_offset (-32) bytes after
// the lock word. onspin_mutex_t puts its link at the same place, so the
// kernel, walking the list of a dying thread, treats both kinds alike: it sets
// OWNER_DIED in every word that still holds the thread's TID and wakes one
// waiter. Only the owning thread edits its list, so no locking is needed; the
// edits mirror glibc's so that its own enqueue and dequeue stay correct when
// our entries sit next to its entries.
#pragma once

#include <onspin/onspin.h>

namespace onspin::detail {

struct robust_head; // the kernel's struct robust_list_head

// This thread's list head, or nullptr if robust locks cannot work here (a
// head whose futex_offset is not onspin's). Cached per thread.
robust_head *self_robust_head() noexcept;

// Announces that m is being locked or unlocked: the kernel also checks this
// entry if the thread dies before the operation completes.
void robust_set_pending(robust_head *head, onspin_mutex_t *m) noexcept;
void robust_clear_pending(robust_head *head) noexcept;

void robust_link(robust_head *head, onspin_mutex_t *m) noexcept;
void robust_unlink(onspin_mutex_t *m) noexcept;

} // namespace onspin::detail
