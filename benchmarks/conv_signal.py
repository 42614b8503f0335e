"""The delta-orthogonal Lyapunov CNN through depth: measured against the exact prediction.

For each backend (a fresh process each) and each width, ``signal_report`` measures
NETWORKS independent networks (one probe input each, so the values are
independent) of ``leaky_relu_cnn(INPUT, width, DEPTH, 0.01)``: 3x3 bias-free
convolutions with ``LyapunovDeltaOrthogonal`` kernels, 'same' padding, leaky ReLU,
on 16x16 maps of ``width`` channels. The report follows one position per probe
(docs/theory.md section 7). Checked, each within 3 standard errors:

- the mean log-gain per layer, ``mean(log ||h_L(p)|| - log ||x(p0)||) / L``, is 0
  (standard error: the sample std over networks / (L sqrt(N)));
- the depth profile: at every layer the measured mean is the predicted 0 (error
  ``predicted std / sqrt(N)``) and the measured std the predicted
  ``s sqrt(l)`` (error ``(std / 2) sqrt((kurtosis - 1) / N)``, with the kurtosis
  of the sum of ``l`` i.i.d. one-layer log-gains, ``3 + (k1 - 3) / l``, and ``k1``
  that of one layer's exact law by NumPy Monte Carlo: 200 samples underestimate a
  heavy tail's kurtosis).

Each (backend, width) cell draws from its own seed, ``seed * 1000 + width``.

Usage:
    python -m benchmarks.conv_signal                     # 3 backends, widths 8 16, depth 50
    python -m benchmarks.conv_signal --backends jax --networks 50
"""

import argparse
import math

import numpy as np

from benchmarks import run_fresh, run_line, write_report

CHILD = r"""
import json, math, sys
import numpy as np
from keras_lyapunov import leaky_relu_cnn, signal_report
width, depth, networks, seed = (int(a) for a in sys.argv[1:5])
model = leaky_relu_cnn((16, 16, width), width, depth, 0.01)
report = signal_report(model, samples=networks, num_probes=1, seed=seed)
rows = []
for index, row in enumerate(report.rows):
    values = report.log_norms[:, 0, index]
    centred = values - values.mean()
    kurtosis = float(np.mean(centred**4) / np.mean(centred**2) ** 2)
    rows.append({"mean": float(values.mean()), "std": float(values.std(ddof=1)),
                 "predicted_mean": row.predicted_mean, "predicted_std": row.predicted_std,
                 "kurtosis": kurtosis, "prediction": row.prediction})
print(json.dumps(rows))
"""


def measure(backend, width, depth, networks, seed):
    return run_fresh(CHILD, [width, depth, networks, seed], backend)


def one_layer_kurtosis(width, slope=0.01, draws=2_000_000):
    """Kurtosis of one square orthogonal layer's log-gain: 0.5 log(sum phi(g)^2 / sum g^2)."""
    g = np.random.default_rng(12345).standard_normal((draws, width))
    gains = 0.5 * (np.log(np.sum(np.where(g > 0, g, slope * g) ** 2, axis=1))
                   - np.log(np.sum(g**2, axis=1)))
    centred = gains - gains.mean()
    return float(np.mean(centred**4) / np.mean(centred**2) ** 2)


def check(rows, depth, networks, width):
    """(per-layer mean, its error, z, |z| of each layer's mean, of its std, all exact)."""
    last = rows[-1]
    per_layer = last["mean"] / depth
    error = last["std"] / (depth * math.sqrt(networks))
    k1 = one_layer_kurtosis(width)
    mean_z = [abs(r["mean"] - r["predicted_mean"]) / (r["predicted_std"] / math.sqrt(networks))
              for r in rows]
    std_z = [abs(r["std"] - r["predicted_std"])
             / (r["predicted_std"] / 2 * math.sqrt((2 + (k1 - 3) / layers) / networks))
             for layers, r in enumerate(rows, start=1)]
    exact = all(r["prediction"] == "exact" for r in rows)
    return per_layer, error, per_layer / error, mean_z, std_z, exact


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    parser.add_argument("--widths", nargs="+", type=int, default=[8, 16])
    parser.add_argument("--depth", type=int, default=50)
    parser.add_argument("--networks", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    lines = [
        "# Delta-orthogonal Lyapunov CNN: measured against the exact prediction",
        "", run_line(f"python -m benchmarks.conv_signal --backends {' '.join(args.backends)} "
                     f"--widths {' '.join(map(str, args.widths))} --depth {args.depth} "
                     f"--networks {args.networks} --seed {args.seed}"), "",
        __doc__.split("\n\n", 1)[1].split("\n\nUsage")[0], "",
        "| backend | width | networks | mean log-gain per layer | standard error | z | "
        "zero within 3 SE | worst layer, mean abs(z) | worst layer, std abs(z) | "
        "layer tests beyond 3 SE |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|---:|"]
    total_beyond = tests = 0
    for backend in args.backends:
        for width in args.widths:
            rows = measure(backend, width, args.depth, args.networks, args.seed * 1000 + width)
            per_layer, error, z, mean_z, std_z, exact = check(rows, args.depth, args.networks,
                                                              width)
            beyond = sum(v > 3 for v in mean_z) + sum(v > 3 for v in std_z)
            total_beyond += beyond
            line = (f"| {backend} | {width} | {args.networks} | {per_layer:+.5f} | {error:.5f} | "
                    f"{z:+.2f} | {'yes' if exact and abs(z) <= 3 else 'NO'} | {max(mean_z):.2f} "
                    f"| {max(std_z):.2f} | {beyond} of {2 * args.depth} |")
            tests += 2 * args.depth
            print(line, flush=True)
            lines.append(line)
    lines += ["", f"Depth {args.depth}. The profile is {2 * args.depth} tests per cell (the mean "
              "and the std at every layer, each at 3 standard errors); with exact predictions "
              "0.27% of them exceed 3 standard errors by chance. In all: "
              f"{total_beyond} of {tests} beyond 3 SE (expected by chance: {0.0027 * tests:.1f})."]
    write_report("conv_signal.md", lines)


if __name__ == "__main__":
    main()
