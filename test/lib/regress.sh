#!/usr/bin/env bash
# pg_regress suite (sql/ + expected/) through PGXS's installcheck, counted.
cd "$(dirname "$0")/../.." || exit 1
rm -rf test/regress_output
out=$(make -s installcheck 2>&1)
rc=$?
echo "$out"
passed=$(grep -cE '\.\.\. ok|^ok ' <<<"$out")
failed=$(grep -cE '\.\.\. FAILED|^not ok ' <<<"$out")
if [ "$rc" -ne 0 ]; then
    [ -f test/regress_output/regression.diffs ] && head -n 200 test/regress_output/regression.diffs
    [ "$failed" -eq 0 ] && failed=1
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
