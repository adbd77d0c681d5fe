#!/bin/sh
# Two processes reported to STATS (a parent and its fork child): the parent
# at least MIN mutex calls, the child fewer (it made almost none; a child
# that repeated its parent's counts would show as many).
#   calls_per_process.sh STATS MIN
set -eu
calls=$(grep 'served:' "$1" | sed 's/.*mutex_calls=\([0-9]*\).*/\1/' | sort -n)
echo "mutex_calls per process: $(echo $calls)"
[ "$(echo "$calls" | wc -l)" -eq 2 ]
[ "$(echo "$calls" | head -n 1)" -lt "$2" ]
[ "$(echo "$calls" | tail -n 1)" -ge "$2" ]
