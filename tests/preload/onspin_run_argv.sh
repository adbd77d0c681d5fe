#!/bin/sh
# onspin run passes the command exactly its own arguments (options and "--"
# included), runs a script without "#!" with the shell, and keeps its status.
#   onspin_run_argv.sh ONSPIN
set -eu
onspin=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$onspin" run -- sh -c 'test $# = 3 && test "$1" = a && test "$2" = "--stats" && test "$3" = "b --"' x a --stats 'b --'
"$onspin" run --oracle budget sh -c 'test $# = 1 && test "$1" = "--oracle"' x --oracle
printf 'exit 7\n' >"$dir/noshebang"
chmod +x "$dir/noshebang"
status=0
"$onspin" run -- "$dir/noshebang" || status=$?
[ "$status" -eq 7 ]
echo "arguments, options after the command, a script without #! and its status: as given"
