#!/usr/bin/python3
"""Read one JSON object per benchmark on stdin; print the table; write the
results (with the machine and the date) to the file named first.

    ... | bench/report.py OUT.json SMOKE(0|1)
"""
import datetime
import json
import os
import platform
import sys

KEYS = {
    "P1": ("runs_per_s", "runs/s", "vs_http", "of wrk's rate", "vs_commits", "of pgbench's commits"),
    "P2": ("steady_runs_per_s", "runs/s steady", "of_ideal", "of ideal", "rss_kb_per_run_in_flight", "kB RSS per run"),
    "P3": ("added_ms", "ms added", "invoke_ms", "ms pa_invoke", "curl_round_trip_ms", "ms curl"),
    "P4": ("p50_ms", "ms p50", "p99_ms", "ms p99", "samples", "samples"),
    "P5": ("slowdown", "x slower", "with_trigger_tps", "tps with", "without_trigger_tps", "tps without"),
    "P6": ("ms_10000", "ms 10k events", "ms_1000", "ms 1k events", "linearity_10000_vs_1000", "per-event 10k/1k"),
}


def main():
    out, smoke = sys.argv[1], sys.argv[2] == "1"
    results = [json.loads(line) for line in sys.stdin if line.strip()]
    results.sort(key=lambda r: r["id"])
    print()
    print("| id | figure | reference / ratio | | target | met |")
    print("|---|---|---|---|---|---|")
    for r in results:
        k = KEYS[r["id"]]
        print("| %s | %s %s | %s %s | %s %s | %s | %s |" % (
            r["id"], r[k[0]], k[1], r[k[2]], k[3], r[k[4]], k[5], r["target"],
            "yes" if r["met"] else "no"))
    doc = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)},
        "smoke": smoke,
        "results": results,
    }
    with open(out, "w") as f:
        json.dump(doc, f, indent=2)
    print("\nresults written to %s" % out)


if __name__ == "__main__":
    main()
