"""Command line: ``python -m keras_lyapunov table --slope 0.01`` and ``report``.

A thin layer over :mod:`keras_lyapunov.theory` and
:mod:`keras_lyapunov.diagnostics`; see ``--help``.
"""

import argparse
import csv
import importlib.util
import os
import sys

import numpy as np

from keras_lyapunov import theory

# The report's initializer choices (keras_lyapunov.baselines.INITIALIZERS), named here so
# that building the parser, and the `table` command, import no Keras.
INITIALIZER_NAMES = ("delta-orthogonal", "glorot-uniform", "he", "keras-he-normal",
                     "lyapunov-delta-orthogonal", "lyapunov-normal", "lyapunov-orthogonal",
                     "orthogonal", "scaled-orthogonal")

TABLE_COLUMNS = (
    ("width", "layer width d (square d x d Dense kernels)"),
    ("lambda_unit_normal", "I(d, a): Lyapunov exponent of N(0, 1) weights"),
    ("mean_log_norm_normal", "c(d) = E log ||g|| for g ~ N(0, I_d)"),
    ("lambda_he", "exponent of He init, N(0, 2 / ((1 + a^2) d))"),
    ("lambda_orthogonal_he", "exponent of scaled orthogonal, gain sqrt(2 / (1 + a^2))"),
    ("sigma_he", "He standard deviation sqrt(2 / ((1 + a^2) d))"),
    ("sigma_crit", "LyapunovNormal standard deviation (exponent exactly 0)"),
    ("eta_crit", "LyapunovOrthogonal gain (exponent exactly 0)"),
    ("std_normal", "per-layer log-gain std s of LyapunovNormal (CLT constant)"),
    ("std_orthogonal", "per-layer log-gain std s of LyapunovOrthogonal"),
)


def lyapunov_table(slope, widths=theory.PAPER_WIDTHS):
    """The paper's Appendix D.3 table, plus the two CLT constants.

    Args:
        slope: leaky-ReLU negative slope (nonzero).
        widths: sequence of square layer widths.

    Returns:
        A dict of column name -> NumPy array, columns as ``TABLE_COLUMNS``.

    Example:
        >>> table = lyapunov_table(0.1, widths=[10])
        >>> round(float(table["sigma_crit"][0]), 7)
        0.5142106
    """
    d = theory.validate_widths(widths, "widths")
    sigma_he = theory.he_scale(d, slope)
    eta_he = theory.he_scale(d, slope, distribution="orthogonal")
    values = {
        "width": d,
        "lambda_unit_normal": theory.lyapunov_exponent(d, slope, scale=1.0),
        "mean_log_norm_normal": theory.gaussian_log_norm_mean(d),
        "lambda_he": theory.lyapunov_exponent(d, slope, scale=sigma_he),
        "lambda_orthogonal_he": theory.lyapunov_exponent(
            d, slope, distribution="orthogonal", scale=eta_he
        ),
        "sigma_he": sigma_he,
        "sigma_crit": theory.critical_scale(d, slope),
        "eta_crit": theory.critical_scale(d, slope, distribution="orthogonal"),
        "std_normal": theory.log_gain_std(d, slope),
        "std_orthogonal": theory.log_gain_std(d, slope, distribution="orthogonal"),
    }
    return {name: np.atleast_1d(values[name]) for name, _ in TABLE_COLUMNS}


def _format_rows(table, digits):
    columns = [name for name, _ in TABLE_COLUMNS]
    for i in range(len(table["width"])):
        yield [str(int(table["width"][i]))] + [
            f"{float(table[name][i]):.{digits}g}" for name in columns[1:]
        ]


def _print_table(table, fmt, digits, out):
    header = [name for name, _ in TABLE_COLUMNS]
    rows = list(_format_rows(table, digits))
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    else:
        out.write("| " + " | ".join(header) + " |\n")
        out.write("|" + "|".join("---:" for _ in header) + "|\n")
        for row in rows:
            out.write("| " + " | ".join(row) + " |\n")


def _parse_widths(text):
    try:
        widths = [int(w) for w in text.split(",") if w.strip()]
        theory.validate_widths(widths, "--widths")
        return widths
    except ValueError as error:
        raise argparse.ArgumentTypeError(
            f"--widths must be comma-separated integers >= 1, got {text!r}"
        ) from error


def _parse_slope(text):
    try:
        return theory.validate_slope(float(text), name="--slope")
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def build_parser():
    parser = argparse.ArgumentParser(
        prog="python -m keras_lyapunov",
        description="Lyapunov initialization for Keras 3 (arXiv:2602.10949).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    columns_help = "\n".join(f"  {name:22s} {text}" for name, text in TABLE_COLUMNS)
    table = commands.add_parser(
        "table",
        help="critical scales and exponents per width (the paper's Appendix D.3)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "Print one row per width of a deep network of square Dense layers\n"
            "followed by a leaky ReLU of negative slope a. Exponents are the\n"
            "exact mean per-layer log-norm gain (log ||h_L|| ~ L * exponent).\n\n"
            f"Columns:\n{columns_help}"
        ),
    )
    table.add_argument(
        "--slope", type=_parse_slope, required=True,
        help="leaky-ReLU negative slope a (nonzero real)",
    )
    table.add_argument(
        "--widths", type=_parse_widths, default=list(theory.PAPER_WIDTHS),
        help="comma-separated widths (default: the paper's 35 widths)",
    )
    table.add_argument(
        "--format", choices=("csv", "markdown"), default="csv",
        help="output format (default: csv)",
    )
    table.add_argument(
        "--digits", type=_int_in("--digits", 1, 17), default=10,
        help="significant digits per value, 1 to 17 (default: 10)",
    )
    report = commands.add_parser(
        "report",
        help="signal through depth of a standard MLP: predicted vs measured, table and plot",
        description=(
            "Build a bias-free MLP of DEPTH Dense(WIDTH) layers, each followed by\n"
            "LeakyReLU(SLOPE), on WIDTH inputs, and print its signal report: the\n"
            "predicted and measured mean and std of log ||h_l|| - log ||x|| after\n"
            "every layer. With --plot, also write the figure of the model beside\n"
            "He and Lyapunov initialization (like the paper's Figure 1)."
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    report.add_argument("--width", type=_int_in("--width", 1), default=10,
                        help="layer width (default: 10)")
    report.add_argument("--depth", type=_int_in("--depth", 1), default=100,
                        help="number of Dense layers (default: 100)")
    report.add_argument("--slope", type=_parse_slope, default=0.01,
                        help="leaky-ReLU negative slope (default: 0.01)")
    report.add_argument(
        "--init", choices=INITIALIZER_NAMES, default="glorot-uniform",
        help="kernel initializer of the model (default: glorot-uniform, Keras's Dense default)")
    report.add_argument(
        "--conv", type=_int_in("--conv", 1), metavar="SIZE",
        help="report a CNN instead: DEPTH bias-free Conv2D(WIDTH, 3, padding='same') + "
             "LeakyReLU(SLOPE) on SIZE x SIZE x WIDTH inputs, followed at one position")
    report.add_argument("--samples", type=_int_in("--samples", 2), default=100,
                        help="re-initializations measured (default: 100)")
    report.add_argument("--probes", type=_int_in("--probes", 1), default=16,
                        help="probe inputs, uniform on [0, 1) (default: 16)")
    report.add_argument("--seed", type=_int_in("--seed", 0), default=0,
                        help="seed of the ensemble and probes (default: 0)")
    report.add_argument("--plot", metavar="PATH",
                        help="write the figure there (needs matplotlib: the [plot] extra)")
    report.add_argument("--digits", type=_int_in("--digits", 0, 15), default=3,
                        help="decimals, 0 to 15 (default: 3)")
    return parser


def _int_in(name, minimum, maximum=None):
    """An argparse type: an integer in ``[minimum, maximum]`` (no upper bound if None)."""
    allowed = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{name} must be an integer {allowed}, got {text!r}")
        return value

    return parse


# The report holds the model, one re-drawn copy of every kernel, and the Gaussian
# matrices and Q factors of the orthogonal draws: about four float32 copies.
_REPORT_COPIES = 4


def _available_memory():
    """Bytes of memory available to this process, or None if it cannot be read."""
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _check_report(args, parser):
    """Refuses, before any work, a report that cannot finish: memory, the figure's path."""
    weights = args.width * args.width * args.depth * (9 if args.conv else 1)
    needed = _REPORT_COPIES * 4 * weights
    available = _available_memory()
    if available is not None and needed > available:
        parser.error(
            f"--width {args.width} --depth {args.depth}: the model has {weights:.3g} weights "
            f"and the report needs about {needed / 2**30:.3g} GiB of memory (the model, a "
            f"re-drawn copy and the orthogonal draws' workspace), but {available / 2**30:.3g} "
            "GiB are available. Use a smaller --width or --depth.")
    if args.plot:
        if importlib.util.find_spec("matplotlib") is None:
            parser.error("--plot needs matplotlib: pip install 'keras_lyapunov[plot]'")
        folder = os.path.dirname(os.path.abspath(args.plot))
        if not os.path.isdir(folder):
            parser.error(f"--plot {args.plot}: the folder {folder} does not exist")


def _report(args, out):
    from keras_lyapunov import diagnostics  # Keras: imported only for the report
    from keras_lyapunov.baselines import INITIALIZERS
    from keras_lyapunov.networks import leaky_relu_cnn, standard_mlp

    if args.conv:
        make = INITIALIZERS[args.init]
        model = leaky_relu_cnn((args.conv, args.conv, args.width), args.width, args.depth,
                               args.slope, lambda index, slope: make(slope))
        title = (f"CNN: {args.depth} x Conv2D({args.width}, 3x3, 'same', no bias) + "
                 f"LeakyReLU({args.slope:g}) on {args.conv}x{args.conv}x{args.width} inputs")
    else:
        model = standard_mlp(args.width, args.depth, args.slope, INITIALIZERS[args.init])
        title = f"MLP: {args.depth} x Dense({args.width}) + LeakyReLU({args.slope:g})"
    options = dict(samples=args.samples, num_probes=args.probes, seed=args.seed)
    if args.plot:
        reports = diagnostics.comparison_reports(model, **options)
    else:
        reports = {args.init: diagnostics.signal_report(model, **options)}
    own = next(iter(reports.values()))
    out.write(f"{title}, kernels from {args.init}\n\n")
    out.write(own.table(args.digits) + "\n\n")
    out.write("after the last layer, log ||h_L|| - log ||x||:\n")
    for label, report in reports.items():
        last = report.rows[-1]
        predicted = ("no prediction" if last.predicted_mean is None else
                     f"predicted {last.predicted_mean:+.3f} +- {last.predicted_std:.3f}")
        out.write(f"  {label:24s} {predicted:32s} measured {last.measured_mean:+.3f} "
                  f"+- {last.measured_std:.3f}\n")
    for distribution in theory.DISTRIBUTIONS:
        k = theory.recommended_k(args.depth, args.width, args.slope, distribution=distribution)
        out.write(f"Sampled Lyapunov ({distribution}): k = {k} candidates put the best within "
                  "a factor 2 of the input norm with probability 0.9\n")
    if args.plot:
        diagnostics.plot_signal(reports, args.plot)
        out.write(f"figure written to {args.plot}\n")


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "table":
        try:
            table = lyapunov_table(args.slope, args.widths)
        except ValueError as error:
            parser.error(str(error))
        _print_table(table, args.format, args.digits, sys.stdout)
    elif args.command == "report":
        _check_report(args, parser)
        _report(args, sys.stdout)
    return 0
