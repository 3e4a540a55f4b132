#!/usr/bin/env bash
# The provider translators outside the server: the unit tests, counted one
# by one (gcc build, PostgreSQL's warnings fatal); the same tests under
# ASan + UBSan and under valgrind, each counted once; then every request
# body the unit tests built, and whole conversations driven through the
# translators, against the strict local model server (check_bodies.py,
# counted one by one). Ends with "N passed, N failed".
cd "$(dirname "$0")/../.." || exit 1
U=test/unit
. test/lib/counts.sh

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! make -s -C $U providers_unit providers_unit_asan >"$tmp/build.log" 2>&1; then
    cat "$tmp/build.log"; echo "0 passed, 1 failed"; exit 1
fi

mkdir "$tmp/bodies"
$U/providers_unit --out "$tmp/bodies" | tee "$tmp/unit.log"
count "$tmp/unit.log"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
check "provider unit tests under AddressSanitizer + UBSan: clean" $U/providers_unit_asan
check "provider unit tests under valgrind: no errors, no leaks" \
    valgrind -q --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all \
    --error-exitcode=3 $U/providers_unit

# the sanitised binary translates the conversations, so real server
# responses go through ASan too
/usr/bin/python3 $U/check_bodies.py --bin $U/providers_unit_asan --bodies "$tmp/bodies" \
    | tee "$tmp/server.log"
count "$tmp/server.log"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
