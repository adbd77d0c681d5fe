#!/usr/bin/env bash
# The interposer defines each pthread mutex, condition-variable, rwlock,
# spinlock and barrier function under exactly the versions glibc exports it
# with: a version it lacked would let callers bound to it bypass onspin.
#   exports_match_glibc.sh PRELOAD.so
set -eu
preload=$1
libc=$(ldd "$preload" | awk '/libc\.so\.6/ {print $3}')
pattern='^pthread_(mutex_(init|destroy|lock|unlock|trylock|timedlock|clocklock|consistent(_np)?)|cond_(init|destroy|wait|timedwait|clockwait|signal|broadcast)|rwlock_(init|destroy|rdlock|wrlock|tryrdlock|trywrlock|timedrdlock|timedwrlock|clockrdlock|clockwrlock|unlock)|spin_(init|destroy|lock|trylock|unlock)|barrier_(init|destroy|wait))@'
ours=$(nm -D --defined-only "$preload" | awk '{print $3}' | grep -E "$pattern" | sort)
theirs=$(nm -D --defined-only "$libc" | awk '{print $3}' | grep -E "$pattern" | sort)
if [ "$ours" != "$theirs" ]; then
  echo "exported versions differ from $libc's (< ours, > glibc's):"
  diff <(echo "$ours") <(echo "$theirs") || true
  exit 1
fi
echo "$(echo "$ours" | wc -l) versioned symbols, as in $libc"
