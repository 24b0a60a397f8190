#!/usr/bin/env python3
"""CPU and memory of a process and all its descendants, from /proc.
usage: measure.py PID SECONDS   (prints each process and the total)"""
import os
import sys
import time

TCK = os.sysconf("SC_CLK_TCK")


def tree(root):
    """root and every descendant pid."""
    kids = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                st = open(f"/proc/{p}/stat").read()
                ppid = int(st.rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(p))
            except OSError:
                pass
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += kids.get(p, [])
    return out


def name(p):
    try:
        return open(f"/proc/{p}/comm").read().strip()
    except OSError:
        return "?"


def cpu_ticks(p):
    f = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()
    return int(f[11]) + int(f[12])


def mem_kib(p):
    d = {"Rss": 0, "Pss": 0}
    for line in open(f"/proc/{p}/smaps_rollup"):
        k, v = line.split(":", 1)
        if k in d:
            d[k] = int(v.split()[0])
    return d


def measure(root, seconds):
    """{'procs': [(pid, name, cpu%, rss MiB, pss MiB)], 'cpu': %, 'rss': MiB, 'pss': MiB}
    over `seconds` (CPU in percent of one core)."""
    ps = tree(root)
    c0 = {}
    for p in ps:
        try:
            c0[p] = cpu_ticks(p)
        except OSError:
            pass
    t0 = time.time()
    time.sleep(seconds)
    dt = time.time() - t0
    out = {"procs": [], "cpu": 0.0, "rss": 0.0, "pss": 0.0, "seconds": round(dt, 1)}
    for p in tree(root):
        try:
            c = (cpu_ticks(p) - c0.get(p, cpu_ticks(p))) / TCK / dt * 100
            m = mem_kib(p)
        except OSError:
            continue
        out["procs"].append((p, name(p), round(c, 2), round(m["Rss"] / 1024, 1),
                             round(m["Pss"] / 1024, 1)))
        out["cpu"] += c
        out["rss"] += m["Rss"] / 1024
        out["pss"] += m["Pss"] / 1024
    for k in ("cpu", "rss", "pss"):
        out[k] = round(out[k], 2 if k == "cpu" else 1)
    return out


def report(title, m):
    lines = [f"{title}: cpu {m['cpu']:.2f}% of one core over {m['seconds']}s, "
             f"rss {m['rss']:.1f} MiB, pss {m['pss']:.1f} MiB"]
    for p, n, c, r, s in m["procs"]:
        lines.append(f"    {p:>7} {n:<18} cpu {c:5.2f}%  rss {r:7.1f} MiB  pss {s:7.1f} MiB")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(f"pid {sys.argv[1]}", measure(int(sys.argv[1]), float(sys.argv[2]))))
