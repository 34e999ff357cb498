"""Runs a command and reports its peak resident memory split as the kernel counts it: anonymous (heap, tensors
the process allocated) and file-backed (mapped checkpoints, page cache it reads through a mapping), sampled from
/proc/PID/status every 10 ms, plus the kernel's own total peak (VmHWM, what /usr/bin/time -v calls "Maximum
resident set size"). Used for docs/benchmarks.md ("Loading BAGEL-7B"): sgt's goal is anonymous peak <= 2 GB.

    python tools/peak_rss.py -- build/bin/sgt chat --model DIR ...
Prints one JSON line on stderr at the end; the command's exit code is returned.
"""
import json
import subprocess
import sys
import time


def status(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("RssAnon", "RssFile", "VmHWM"):
                    out[k] = int(v.split()[0]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return out


def main():
    argv = sys.argv[1:]
    if argv and argv[0] == "--":
        argv = argv[1:]
    if not argv:
        sys.exit("usage: peak_rss.py -- COMMAND [ARGS...]")
    t0 = time.time()
    p = subprocess.Popen(argv)
    peak = {"RssAnon": 0, "RssFile": 0, "VmHWM": 0}
    while p.poll() is None:
        for k, v in status(p.pid).items():
            peak[k] = max(peak[k], v)
        time.sleep(0.01)
    gib = 1 << 30
    print(json.dumps({"exit": p.returncode, "wall_s": round(time.time() - t0, 1),
                      "peak_anon_gib": round(peak["RssAnon"] / gib, 3), "peak_file_gib": round(peak["RssFile"] / gib, 3),
                      "peak_total_gib": round(peak["VmHWM"] / gib, 3)}), file=sys.stderr)
    sys.exit(p.returncode)


if __name__ == "__main__":
    main()
