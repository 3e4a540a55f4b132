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
