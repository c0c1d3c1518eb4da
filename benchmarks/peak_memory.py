"""A process's peak resident memory, as Linux counts it for this process image alone.

`resource.getrusage(RUSAGE_SELF).ru_maxrss` is kept across fork and exec (Linux stores it per
thread group): a child started by a 3 GiB parent reports at least 3 GiB, which made every
"plain Keras" peak in docs/benchmarks.md equal the pipeline's before 2026-11-27. VmHWM in
/proc/self/status is the high-water mark of this image's own memory.
"""

from __future__ import annotations


def status_mib(field: str, pid="self") -> float:
    """A memory figure (VmHWM, VmRSS, ...) of /proc/PID/status, in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def peak_resident_mb() -> float:
    return status_mib("VmHWM")
