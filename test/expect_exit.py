"""Run a command, pass its stdout and stderr through, and succeed only if it exits with the
expected status: `%expect_exit 2 modelopt-opt ...` (lit's `not` accepts any non-zero status)."""

import subprocess
import sys

expected = int(sys.argv[1])
completed = subprocess.run(sys.argv[2:], check=False)
if completed.returncode != expected:
    print(f"expected exit status {expected}, got {completed.returncode}", file=sys.stderr)
    sys.exit(1)
