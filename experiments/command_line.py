"""The examples' shared command line and their results table."""

import argparse

import numpy as np

from experiments.methods import METHODS

__all__ = ["example_parser", "median_table", "parse_example_arguments", "parse_methods"]


def median_table(results, checkpoints, header="step", reference=None, digits=2):
    """Markdown table of the median (and [min, max]) over seeds per method and checkpoint.

    Args:
        results: dict method key -> array (seeds, checkpoints).
        checkpoints: the column values.
        header: name of the checkpoint unit.
        reference: optional dict method key -> the paper's value (last column).
        digits: decimals.

    Returns:
        The table as a string.
    """
    columns = [f"{header} {c}" for c in checkpoints]
    lines = ["| method | " + " | ".join(columns) + (" | paper |" if reference else " |"),
             "|---|" + "---:|" * (len(columns) + bool(reference))]
    for key, values in results.items():
        values = np.asarray(values, dtype=float)
        cells = [f"{np.median(values[:, j]):.{digits}f}" for j in range(values.shape[1])]
        row = f"| {METHODS[key].label} | " + " | ".join(cells)
        if reference:
            paper = reference.get(key)
            row += " | " + ("-" if paper is None else f"{paper:g}")
        lines.append(row + " |")
    return "\n".join(lines)


def example_parser(description, *, methods, hidden, seeds, length_name, length):
    """The examples' common command line: seeds, length, learning rate, methods, depth."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--seeds", type=int, default=seeds,
                        help=f"seeds per method (default {seeds})")
    parser.add_argument(f"--{length_name}", type=int, default=length,
                        help=f"training {length_name} (default {length})")
    parser.add_argument("--learning-rate", type=float, default=1e-3,
                        help="peak learning rate (default 1e-3)")
    parser.add_argument("--methods", default=",".join(methods),
                        help=f"comma-separated, from: {', '.join(METHODS)}")
    parser.add_argument("--hidden", type=int, default=hidden,
                        help=f"hidden layers (default {hidden})")
    return parser


def parse_example_arguments(parser, argv, length_name):
    """Parses and validates; returns ``(args, methods)`` or exits with a usage error."""
    args = parser.parse_args(argv)
    methods = parse_methods(parser, args.methods)
    if min(args.seeds, getattr(args, length_name), args.hidden) < 1:
        parser.error(f"--seeds, --{length_name} and --hidden must be integers >= 1")
    if not args.learning_rate > 0:
        parser.error("--learning-rate must be > 0")
    return args, methods


def parse_methods(parser, text):
    """The ``METHODS`` keys of a comma-separated ``--methods`` value, or a usage error."""
    methods = [m for m in text.split(",") if m]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        parser.error(f"--methods: unknown {unknown}; choose from {', '.join(METHODS)}")
    return methods
