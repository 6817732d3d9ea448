"""Self-contained lit configuration: runs every *.mlir test with our tools on PATH."""

import os
import sys

import lit.formats

config.name = "modelopt-mlir"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.dirname(__file__)
config.test_exec_root = getattr(config, "modelopt_test_exec_root", None) or os.path.join(
    config.test_source_root, "Output"
)
# examples/ and Inputs/ hold input data without RUN lines; python/ holds pytest tests.
config.excludes = [
    "examples",
    "Inputs",
    "python",
    "Output",
    "lit.cfg.py",
    "lit.site.cfg.py",
    "expect_exit.py",
]

# lit does not forward PATH entries or PYTHONPATH from a venv: put the interpreter's bin first.
bin_dir = getattr(config, "modelopt_bin_dir", None) or os.path.dirname(sys.executable)
config.environment["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
for name in ("PYTHONPATH", "HOME", "TMPDIR"):
    if name in os.environ:
        config.environment[name] = os.environ[name]
config.substitutions.append(("%examples", os.path.join(config.test_source_root, "examples")))
config.substitutions.append(("%python", sys.executable))
config.substitutions.append(
    ("%expect_exit", f"{sys.executable} {os.path.join(config.test_source_root, 'expect_exit.py')}")
)
