"""Runs `python -m dvml_tf.main` in a subprocess from the repository root."""
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main_command(*flags):
    return [sys.executable, "-m", "dvml_tf.main", *flags]


def run_main(*flags, timeout=600):
    return subprocess.run(main_command(*flags), cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
