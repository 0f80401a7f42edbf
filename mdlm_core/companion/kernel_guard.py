"""Start a notebook kernel that dies with the runner: ``python -m mdlm_core.companion.kernel_guard PID CMD...``.

jupyter_client starts each kernel in a session of its own, so a SIGKILL of the runner's process group misses it,
and ipykernel notices its parent is gone only about a second later, enough to keep training and writing
figures. On Linux this asks the kernel to be sent SIGKILL the moment its parent (the runner) exits, then
``exec``s the kernel command in the same process. Elsewhere it just ``exec``s (ipykernel's own parent poll
remains the fallback).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def main(argv: list[str]) -> None:
    runner_pid, cmd = int(argv[0]), argv[1:]
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != runner_pid:  # the runner died before the request took effect
            os._exit(1)
    os.execvp(cmd[0], cmd)


if __name__ == "__main__":
    main(sys.argv[1:])
