#!/usr/bin/python3
"""P4: match each termination's commit time (from psql) to the arrival of
its first request at the model server (request log on stdin), by the
conversation's external id in the transcript.

    ms_requests | bench/p4.py COMMITS_FILE
"""
import json
import re
import statistics
import sys

commits = {}
for line in open(sys.argv[1]):
    key, t = line.split()
    commits[key] = float(t)
first = {}
for r in json.load(sys.stdin)["requests"]:
    body = r.get("body")
    if not isinstance(body, dict):
        continue
    for m in body.get("messages", []):
        found = re.search(r"external_id: (p4-\d+)\n", m.get("content") or "")
        if found and found.group(1) in commits:
            first.setdefault(found.group(1), r["time"])
lat = sorted((first[k] - commits[k]) * 1000 for k in first)
if len(lat) < len(commits):
    print("null")
    sys.exit(0)
p99 = lat[max(0, int(round(len(lat) * 0.99)) - 1)]
print(json.dumps({"id": "P4", "what": "commit of a termination -> its first request at the model server",
                  "samples": len(lat), "p50_ms": round(statistics.median(lat), 2), "p99_ms": round(p99, 2),
                  "target": "p50 <= 5 ms, p99 <= 20 ms",
                  "met": statistics.median(lat) <= 5 and p99 <= 20}))
