"""Start-up times, measured side by side in one run: what a command costs before it works.

Each command runs in a fresh Python process, round by round in turn (so machine
noise hits all alike); the table gives the median and the spread over rounds:

- ``python -m keras_lyapunov table --slope 0.01`` (goal: well under 2 s; it
  imports no Keras);
- ``import keras_lyapunov.theory`` (the mathematics alone);
- ``import keras_lyapunov, keras`` and ``import keras`` alone, on the given
  backend, for scale: the first is what a Keras user pays, the second is Keras's own.

Usage:
    python -m benchmarks.startup [--rounds 7] [--backend tensorflow]
"""

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys

from experiments.timing import timed

COMMANDS = {
    "python -m keras_lyapunov table --slope 0.01": [
        "-m", "keras_lyapunov", "table", "--slope", "0.01"],
    "python -c 'import keras_lyapunov.theory'": ["-c", "import keras_lyapunov.theory"],
    "python -c 'import keras_lyapunov, keras'": ["-c", "import keras_lyapunov, keras"],
    "python -c 'import keras' (Keras alone)": ["-c", "import keras"],
}


def run(arguments, environment):
    subprocess.run([sys.executable, *arguments], check=True, env=environment,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="runs of each command (default 7)")
    parser.add_argument("--backend", default=os.environ.get("KERAS_BACKEND", "tensorflow"),
                        help="KERAS_BACKEND of the runs (default: the current one, else tensorflow)")
    args = parser.parse_args(argv)
    environment = dict(os.environ, KERAS_BACKEND=args.backend, TF_CPP_MIN_LOG_LEVEL="3")
    times = {name: [] for name in COMMANDS}
    for _ in range(args.rounds):
        for name, arguments in COMMANDS.items():
            times[name].append(timed(lambda: run(arguments, environment)))
    print(f"# Start-up times: KERAS_BACKEND={args.backend}, {args.rounds} rounds, "
          f"{datetime.date.today()}, {platform.machine()}, {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}\n")
    print("| command | median (s) | min - max (s) |")
    print("|---|---:|---:|")
    for name, values in times.items():
        print(f"| `{name}` | {statistics.median(values):.2f} | "
              f"{min(values):.2f} - {max(values):.2f} |")


if __name__ == "__main__":
    main()
