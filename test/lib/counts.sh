# test/lib/counts.sh — adding up suites (sourced). Set $tmp (a scratch
# directory) first; passed/failed hold the totals.
passed=0
failed=0

count() {   # add the closing "N passed, N failed" of a log
    local line
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$1" | tail -n 1)
    if [ -z "$line" ]; then failed=$((failed + 1)); return; fi
    passed=$((passed + ${line%% passed*}))
    local f=${line#*, }; failed=$((failed + ${f%% failed}))
}

check() {   # one pass/fail for a whole command
    local desc=$1; shift
    if "$@" >"$tmp/check.log" 2>&1; then
        echo "ok - $desc"; passed=$((passed + 1))
    else
        echo "not ok - $desc"; tail -n 20 "$tmp/check.log"; failed=$((failed + 1))
    fi
}

# unit_suite DESC BIN [valgrind]: run BIN (its checks counted one by one),
# then BIN_asan (AddressSanitizer + UBSan) and, when asked, BIN under
# valgrind, one check each.
unit_suite() {
    local desc=$1 bin=$2 vg=${3:-}
    "$bin" >"$tmp/suite.log" 2>&1
    grep -E '^(not ok|FAIL)' "$tmp/suite.log"; tail -n 1 "$tmp/suite.log"
    count "$tmp/suite.log"
    check "$desc under AddressSanitizer + UBSan: clean" \
        env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        "${bin}_asan"
    if [ "$vg" = valgrind ]; then
        check "$desc under valgrind: no errors, no leaks" \
            valgrind -q --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all \
            --error-exitcode=3 "$bin"
    fi
}
