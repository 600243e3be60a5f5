"""What the bridge process spends: CPU seconds, resident memory, file descriptors.

Read inside a phase child (``phase_process``), which runs the bridge side of one phase
and nothing else, these figures are the bridge's: the relay, the pacers, the surfaces,
the DingTalk client and the openai client, plus the benchmark's light bookkeeping (the
user's messages sent through the control API, the call timings). The emulator and the
simulated model run in another child. ``RssSampler`` polls the resident set size while
the phase answers, to find its peak after the warm-up; the kernel's high-water mark
(``ru_maxrss``) would include the start-up and the warm-up.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass

import anyio

__all__ = ["RssSampler", "cpu_seconds", "peak_rss_bytes", "raise_fd_limit", "rss_bytes"]

_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def cpu_seconds() -> float:
    """User plus system CPU time of this process so far (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_rss_bytes() -> int:
    """The process's resident-set high-water mark (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def rss_bytes() -> int:
    """The resident set size now; 0 where ``/proc`` is not available."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * _PAGE
    except (OSError, ValueError, IndexError):
        return 0


def raise_fd_limit(wanted: int = 65_536) -> int:
    """Raise the soft open-files limit towards ``wanted`` (never above the hard one)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


@dataclass
class RssSampler:
    """Polls ``rss_bytes`` every ``period`` seconds inside ``run``; keeps the peak."""

    period: float = 0.1
    peak: int = 0

    async def run(self) -> None:
        """Sample until cancelled."""
        while True:
            self.sample()
            await anyio.sleep(self.period)

    def sample(self) -> None:
        """Take one sample now."""
        self.peak = max(self.peak, rss_bytes())
