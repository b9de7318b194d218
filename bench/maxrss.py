"""Run a command and report its peak RSS: `python bench/maxrss.py CMD ...`.

A child forked straight from the benchmark would inherit the benchmark's own resident
pages (its generated worlds) into ru_maxrss; a command started from this small process
reports only its own peak. Prints `maxrss_kb N` as the last line on stderr.
"""

from __future__ import annotations

import os
import subprocess
import sys

if __name__ == "__main__":
    child = subprocess.Popen(sys.argv[1:])
    _, status, usage = os.wait4(child.pid, 0)
    print(f"maxrss_kb {usage.ru_maxrss}", file=sys.stderr)
    sys.exit(os.waitstatus_to_exitcode(status))
