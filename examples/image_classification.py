"""The paper's image experiment: a width-10, 100-layer leaky-ReLU MLP on (Fashion-)MNIST.

Kogler, Schwarz, Kittle, arXiv:2602.10949, Table 2. The model: Dense 784->10,
98 hidden Dense 10->10 and a Dense 10->10 logits layer; LeakyReLU(0.01) after
every layer but the last; zero biases; AdamW with cosine decay, batch 256. The
first layer is He (Gaussian methods) or scaled orthogonal (orthogonal methods).
Prints the test accuracy after chosen epochs per method (median over seeds).

Data: keras.datasets (online) by default; offline, ``--data-dir`` reads the IDX
gz files, e.g. Debian's dataset-fashion-mnist package:

    apt-get install -y dataset-fashion-mnist
    python -m examples.image_classification --data-dir /usr/share/datasets/fashion-mnist
    python -m examples.image_classification --dataset mnist --epochs 15 --seeds 3
"""


import numpy as np

from experiments.command_line import example_parser, median_table, parse_example_arguments
from experiments.data import load_image_data
from experiments.methods import METHODS
from experiments.tasks import PAPER_EPOCHS, PAPER_MNIST
from experiments.training import train_classifier


def main(argv=None):
    parser = example_parser(__doc__.splitlines()[0], methods=tuple(PAPER_MNIST), hidden=98,
                            seeds=1, length_name="epochs", length=5)
    parser.add_argument("--dataset", choices=("mnist", "fashion_mnist"), default="mnist")
    parser.add_argument("--data-dir", help="folder of IDX(.gz) files to read instead of "
                        "downloading (then --dataset only names the result)")
    parser.add_argument("--train-size", type=int, default=None,
                        help="use only the first N training images (smoke runs)")
    args, methods = parse_example_arguments(parser, argv, "epochs")
    (x_train, y_train), test = load_image_data(args.dataset, args.data_dir)
    if args.train_size:
        x_train, y_train = x_train[:args.train_size], y_train[:args.train_size]
    print(f"{args.dataset if not args.data_dir else args.data_dir}: {len(x_train)} training "
          f"images; {args.hidden + 2} Dense layers of width 10, LeakyReLU(0.01), AdamW lr "
          f"{args.learning_rate:g} with cosine decay, batch 256, {args.seeds} seed(s)")
    results = {}
    for method in methods:
        results[method] = 100 * np.array([
            train_classifier(method, (x_train, y_train), test, epochs=args.epochs, seed=seed,
                             learning_rate=args.learning_rate, hidden=args.hidden)
            for seed in range(args.seeds)])
        print(f"  {METHODS[method].label:20s} test accuracy after epoch {args.epochs}: "
              f"{np.median(results[method][:, -1]):.1f}%", flush=True)
    shown = [e for e in PAPER_EPOCHS if e < args.epochs] + [args.epochs]
    table = {m: v[:, [e - 1 for e in shown]] for m, v in results.items()}
    paper = {m: PAPER_MNIST[m][PAPER_EPOCHS.index(shown[-1])] if shown[-1] in PAPER_EPOCHS
             else None for m in PAPER_MNIST}
    print(f"\nMedian test accuracy (%) over seeds; 'paper' is its MNIST value at epoch "
          f"{shown[-1]} where it has one:\n")
    print(median_table(table, shown, header="epoch", reference=paper, digits=1))


if __name__ == "__main__":
    main()
