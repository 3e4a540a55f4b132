#!/usr/bin/python3
"""JSON Schema Test Suite (draft 2020-12) through the server's pa_validate().

Reads the official suite (../shared/conformance/json-schema-test-suite, or
the directory given as argument), skips exactly what its README puts out of
scope (test/conformance/out_of_scope.txt, shared with the standalone
runner), loads every case into a temporary table of a scratch database and
validates each with pa_validate(), so that jsonb input, the schema cache and
PostgreSQL's regular-expression engine are all on the path.

Prints one line per file ("file.json: P/T passed"), each failing case, and
ends with "N passed, N failed". Connection: the usual PG* variables.
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_SUITE = os.path.join(ROOT, "..", "shared", "conformance", "json-schema-test-suite")
EXPECTED_IN_SCOPE = 1008
DB = "pa_conformance"


def load_scope():
    """out_of_scope.txt: 'file.json' (whole file) or 'file.json: group description'."""
    files, groups = set(), set()
    with open(os.path.join(HERE, "out_of_scope.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if ": " in line:
                name, desc = line.split(": ", 1)
                groups.add((name, desc))
            else:
                files.add(line)
    return files, groups


def copy_escape(text):
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def psql(sql, db, stdin=None):
    cmd = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", db, "-F", "\t"]
    return subprocess.run(cmd, input=sql if stdin is None else stdin, text=True,
                          capture_output=True, check=True).stdout


def main():
    suite = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SUITE
    skip_files, skip_groups = load_scope()
    cases = []  # (file, group index, test index, group desc, test desc, schema, data, valid)
    for name in sorted(os.listdir(suite)):
        if not name.endswith(".json") or name in skip_files:
            continue
        with open(os.path.join(suite, name), encoding="utf-8") as f:
            groups = json.load(f)
        for gi, group in enumerate(groups):
            if (name, group["description"]) in skip_groups:
                continue
            for ti, test in enumerate(group["tests"]):
                cases.append((name, gi, ti, group["description"], test["description"],
                              group["schema"], test["data"], test["valid"]))

    psql(f"DROP DATABASE IF EXISTS {DB}", "postgres")
    psql(f"CREATE DATABASE {DB}", "postgres")
    rows = "".join(
        "\t".join([c[0], str(c[1]), str(c[2]),
                   copy_escape(json.dumps(c[5], ensure_ascii=False)),
                   copy_escape(json.dumps(c[6], ensure_ascii=False)),
                   "t" if c[7] else "f"]) + "\n"
        for c in cases)
    script = (
        "CREATE EXTENSION procedural_agent;\n"
        "CREATE TEMP TABLE cases (file text, gi int, ti int, schema jsonb, data jsonb, valid boolean);\n"
        "COPY cases FROM STDIN;\n" + rows + "\\.\n"
        "CREATE FUNCTION pg_temp.verdict(s jsonb, d jsonb) RETURNS text LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "  RETURN CASE WHEN EXISTS (SELECT 1 FROM pa_validate(s, d)) THEN 'invalid' ELSE 'valid' END;\n"
        "EXCEPTION WHEN others THEN RETURN 'error: ' || SQLSTATE || ' ' || SQLERRM;\n"
        "END $$;\n"
        "SELECT file, gi, ti, valid, pg_temp.verdict(schema, data) FROM cases ORDER BY file, gi, ti;\n")
    out = psql(None, DB, stdin=script)
    psql(f"DROP DATABASE IF EXISTS {DB}", "postgres")

    by_key = {(c[0], c[1], c[2]): c for c in cases}
    per_file = {}
    failures = []
    seen = 0
    for line in out.splitlines():
        if not line.strip():
            continue
        file, gi, ti, valid, verdict = line.split("\t", 4)
        seen += 1
        expected = "valid" if valid == "t" else "invalid"
        ok = verdict == expected
        p, t = per_file.get(file, (0, 0))
        per_file[file] = (p + ok, t + 1)
        if not ok:
            c = by_key[(file, int(gi), int(ti))]
            failures.append(f"FAIL {file}: {c[3]} / {c[4]}: expected {expected}, got {verdict}")

    for file in sorted(per_file):
        p, t = per_file[file]
        print(f"{file}: {p}/{t} passed")
    for f in failures:
        print(f)
    passed = sum(p for p, _ in per_file.values())
    failed = seen - passed
    print(f"in scope: {len(cases)} tests (suite README: {EXPECTED_IN_SCOPE})")
    if len(cases) != EXPECTED_IN_SCOPE or seen != len(cases):
        print("the number of in-scope tests differs from the suite README")
        failed += 1
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
