"""CPU time by process between two snapshots (PA_BENCH_CPU=1 in bench/run).

    cpu.py snap FILE        write every process's user+system ticks to FILE
    cpu.py diff FILE        print the CPU seconds each process used since FILE

Shows which process the machine's two cores went to during P1 (the
workers, the backend inserting the terminations, nginx, the WAL writer).
"""
import json
import os
import sys

TICKS = os.sysconf("SC_CLK_TCK")


def snapshot():
    procs = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
            with open(f"/proc/{pid}/cmdline") as f:
                cmd = f.read().replace("\0", " ").strip()[:70]
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        procs[pid] = [cmd or stat[stat.find("(") + 1:stat.rfind(")")], int(fields[11]) + int(fields[12])]
    return procs


def main():
    mode, path = sys.argv[1], sys.argv[2]
    if mode == "snap":
        with open(path, "w") as f:
            json.dump(snapshot(), f)
        return
    with open(path) as f:
        before = json.load(f)
    rows = sorted(((ticks - before.get(pid, [cmd, 0])[1], pid, cmd)
                   for pid, (cmd, ticks) in snapshot().items()), reverse=True)
    rows = [r for r in rows if r[0] > 0]
    print(f"   CPU seconds by process: {sum(r[0] for r in rows) / TICKS:.2f} in all")
    for ticks, pid, cmd in rows[:12]:
        print(f"   {ticks / TICKS:7.2f} s  {pid:>7}  {cmd}")


main()
