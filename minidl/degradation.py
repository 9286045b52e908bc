"""``minidl degradation``: the degradation problem, live, on a laptop CPU.

Trains plain and residual networks (He et al. 2016) at a shallow and a deep depth on the embedded
8x8 digits (or MNIST / CIFAR-10 files you have), plus, at the deepest depth, the batch-norm ablation:
plain without BN and residual without BN (branches zero-initialised). It shows that

* the deep plain network trains worse than the shallow one: depth hurts (the degradation problem);
* the deep residual network trains as well as the shallow one: residual connections fix it;
* without batch norm the deep plain network does not train at all, the residual one still does;
* at initialisation, gradient norms spread over orders of magnitude across a plain network's
  layers and stay within about one order across a residual network's.

Writes curves.png, ablation.png, gradient_flow.png, results.json and results.csv into ``--out``.
Run ``minidl degradation --help`` for the settings; docs/degradation.md explains what to look for.

The trainings are independent (each starts from ``minidl.manual_seed(seed)``), so ``--jobs N`` runs N
of them at once, each in its own worker process, with the same results bit for bit (on the digits, whose
small layers the kernels compute on one thread either way).
"""

import argparse
import copy
import csv
import io
import json
import multiprocessing
import os
import platform
import queue
import signal
import sys
import threading
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

import minidl
from minidl import optim
from minidl.data import DataLoader, load_cifar10, load_digits, load_mnist
from minidl.models import cifar_resnet, gradient_flow
from minidl.serialization import atomic_write
from minidl.train import fit

PRESETS = {
    "quick": {"depths": (8, 56), "seeds": (0,)},
    "full": {"depths": (8, 20, 32, 56), "seeds": (0, 1, 2)},
}
GRADIENT_FLOW_BATCH = 256


@dataclass
class Config:
    """Everything that defines a demo run; the defaults are the quick preset."""

    preset: str = "quick"
    depths: tuple = (8, 56)
    seeds: tuple = (0,)
    widths: tuple = (8, 16, 32)
    epochs: int = 15
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 0.0
    batch_size: int = 128
    warmup_epochs: int = 2
    max_grad_norm_without_bn: float = 1.0
    data: str = "digits"
    ablation: bool = True
    out: str = ""
    jobs: int = 1  # trainings at a time, each in its own worker process when more than 1


@dataclass
class Variant:
    """One network to train: plain or residual, with or without batch norm."""

    depth: int
    residual: bool
    batch_norm: bool = True

    @property
    def zero_init(self):
        # a deep residual network without batch norm explodes from He init; zero-init branches tame it
        return self.residual and not self.batch_norm

    @property
    def name(self):
        kind = "residual" if self.residual else "plain"
        if self.batch_norm:
            return f"{kind}-{self.depth}"
        return f"{kind}-{self.depth} (no BN{', zero-init' if self.zero_init else ''})"


def usable_cpus():
    """How many CPUs this process may run on (its affinity mask, where the system has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def variants(config):
    """Plain and residual (with BN) at every depth; the two variants without BN at the deepest."""
    runs = [Variant(depth, residual) for depth in config.depths for residual in (False, True)]
    if config.ablation:
        deepest = max(config.depths)
        runs += [Variant(deepest, False, batch_norm=False), Variant(deepest, True, batch_norm=False)]
    return runs


def make_scheduler(optimizer, config, steps_per_epoch):
    """Linear warm-up from near 0 over ``warmup_epochs``, then cosine decay to 0, stepped every batch.

    With a constant learning rate, deep networks without batch norm sometimes diverge in their first
    steps (the PyTorch reference runs in shared/DEMO-REFERENCE.md); the gentle start avoids most of it.
    """
    warmup = min(config.warmup_epochs, config.epochs - 1) * steps_per_epoch
    decay = optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs * steps_per_epoch - warmup)
    if warmup == 0:
        return decay
    ramp = optim.lr_scheduler.LinearLR(optimizer, start_factor=1 / warmup, total_iters=warmup)
    return optim.lr_scheduler.SequentialLR(optimizer, [ramp, decay], milestones=[warmup])


def label(variant, seed):
    return f"{variant.name}, seed {seed}"


def bar_label(variant, seed, config):
    """The progress bar's label: the seed only where there are several, to leave the bar room on a projector."""
    return label(variant, seed) if len(config.seeds) > 1 else variant.name


def train_variant(variant, seed, data, config, progress=True, on_epoch=None, position=None, label_width=0):
    """Train one network from scratch; return its record: the variant, per-epoch history, gradient flow.

    ``position`` and ``label_width`` place and align its progress bar among others (``fit``'s position).
    """
    train_set, test_set = data
    images, labels = train_set.tensors
    minidl.manual_seed(seed)
    model = cifar_resnet(
        variant.depth,
        config.widths,
        variant.residual,
        variant.batch_norm,
        in_channels=images.shape[1],
        num_classes=int(labels.data.max()) + 1,
        zero_init_residual=variant.zero_init,
    )
    probe = train_set[:GRADIENT_FLOW_BATCH]
    record = {
        "name": variant.name,
        **asdict(variant),
        "zero_init": variant.zero_init,
        "seed": seed,
        "epochs": [],
        "gradient_flow": {"init": gradient_flow(model, *probe)},
    }

    def end_of_epoch(epoch):
        if epoch["epoch"] in (1, config.epochs):  # each probe costs about two training steps
            record["gradient_flow"][f"epoch {epoch['epoch']}"] = gradient_flow(model, *probe)
        record["epochs"].append(
            {
                "epoch": epoch["epoch"],
                "lr": epoch["lr"],
                "train_loss": epoch["train_loss"],
                "train_error": 1 - epoch["train_accuracy"],
                "test_loss": epoch["test_loss"],
                "test_error": 1 - epoch["test_accuracy"],
                "seconds": epoch["seconds"],
            }
        )
        if on_epoch is not None:
            on_epoch(record)

    optimizer = optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay)
    train_loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True)
    started = time.perf_counter()
    fit(
        model,
        optimizer,
        train_loader,
        config.epochs,
        test_loader=DataLoader(test_set, batch_size=500),
        scheduler=make_scheduler(optimizer, config, len(train_loader)),
        scheduler_interval="batch",
        # without batch norm one bad early batch can throw a deep network where its ReLUs all die (1 seed
        # in 3 at depth 56, in PyTorch as in minidl); capping the gradient's length prevents it
        max_grad_norm=None if variant.batch_norm else config.max_grad_norm_without_bn,
        progress=progress,
        callback=end_of_epoch,
        desc=bar_label(variant, seed, config).ljust(label_width),
        position=position,
    )
    record["seconds"] = time.perf_counter() - started
    return record


def finished_line(record):
    """The line printed when a network is done: its final training loss and error, test error, time."""
    last = record["epochs"][-1]
    return (
        f"  {record['name']:<32} seed {record['seed']}: train loss {last['train_loss']:.4f}, train error "
        f"{100 * last['train_error']:.1f}%, test error {100 * last['test_error']:.1f}% ({record['seconds']:.0f}s)"
    )


def train_one_by_one(tasks, data, config, progress, live=None):
    """Train every (variant, seed) of ``tasks`` in this process, in order; their records, in that order."""
    runs = []
    for variant, seed in tasks:
        record = train_variant(variant, seed, data, config, progress, on_epoch=live.update if live else None)
        print(finished_line(record))
        runs.append(record)
    return runs


def train_in_workers(tasks, config, show_bars, live=None):
    """Train the (variant, seed) pairs of ``tasks`` in ``config.jobs`` worker processes; records in task order.

    Each worker takes the next task from a queue and reports on one results queue: ("started", task, its
    position), ("epoch", task, record so far) for ``live``, ("done", task, record), or ("failed", task,
    traceback text). This process prints each network's line as it finishes; if a worker fails or dies,
    or on Ctrl-C, it stops all of them and raises.
    """
    # "spawn" starts each worker as a fresh Python that imports minidl. "fork" would copy this process as
    # it is, with the threads Numba, OpenBLAS, tqdm or a GUI window have started: a lock one of them holds
    # at that instant stays locked forever in the copy. Spawn is also what macOS and Windows use.
    context = multiprocessing.get_context("spawn")
    bar_lock = context.RLock()  # tqdm draws a bar while holding it: one bar at a time, across processes
    todo, results = context.Queue(), context.Queue()
    # longest first (training time grows with depth): the short ones then fill the gaps at the end
    for index in sorted(range(len(tasks)), key=lambda index: -tasks[index][0].depth):
        todo.put((index, *tasks[index]))
    for _ in range(config.jobs):
        todo.put(None)  # one "no more work" per worker
    threads = max(1, usable_cpus() // config.jobs)  # the cores, shared out: no worker's threads wait for a core
    label_width = max(len(bar_label(variant, seed, config)) for variant, seed in tasks)
    workers = [
        context.Process(
            target=train_tasks,
            args=(position, config, threads, show_bars, label_width, live is not None, bar_lock, todo, results),
            daemon=True,  # if this process ends without stopping them, multiprocessing does
        )
        for position in range(config.jobs)
    ]
    records, running, remaining = [None] * len(tasks), {}, len(tasks)
    try:
        for worker in workers:
            worker.start()
        while remaining:
            kind, index, payload = next_message(results, workers, running, tasks, live)
            if kind == "failed":
                what = "at start" if index is None else f"training {label(*tasks[index])}"
                raise RuntimeError(f"minidl degradation: a worker process failed {what}:\n\n{payload}")
            if kind == "started":
                running[payload] = index
                continue
            if kind == "epoch":
                live.update(payload)
                continue
            records[index], remaining = payload, remaining - 1
            with bar_lock:  # not in the middle of a worker drawing its bar
                # over the bars: back to the first bar's line, clear it and those below, print; each bar
                # draws itself again one line lower at its next update
                sys.stdout.write(("\r\x1b[J" if show_bars else "") + finished_line(payload) + "\n")
                sys.stdout.flush()
    finally:
        for worker in workers:
            if worker.pid is None:
                continue  # never started
            if remaining and worker.is_alive():
                worker.terminate()
            worker.join()
        if show_bars and remaining:
            sys.stderr.write("\r\x1b[J")  # the stopped workers' bars
    return records


def next_message(results, workers, running, tasks, live):
    """The next message from the workers. Raises if one of them died (out of memory, killed)."""
    while True:
        try:
            return results.get(timeout=0.1 if live else 1.0)
        except queue.Empty:
            for position, worker in enumerate(workers):
                if worker.exitcode not in (None, 0):
                    what = f"while training {label(*tasks[running[position]])}" if position in running else "at start"
                    raise RuntimeError(
                        f"minidl degradation: a worker process died {what} (exit code {worker.exitcode})"
                    ) from None
            if live:
                live.idle()


def train_tasks(position, config, threads, progress, label_width, send_epochs, bar_lock, todo, results):
    """A worker process: trains the tasks it takes from ``todo`` one after another, reports on ``results``."""
    import numba

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches every process; the parent stops the workers
    # and if the parent dies without stopping us (killed), stop too, rather than train on for no one
    parent = multiprocessing.parent_process()
    threading.Thread(target=lambda: (parent.join(), os._exit(1)), daemon=True).start()
    numba.set_num_threads(threads)
    tqdm.set_lock(bar_lock)
    index = None
    try:
        data = load_data(config.data)
        for index, variant, seed in iter(todo.get, None):
            results.put(("started", index, position))

            def send_epoch(record, index=index):
                # deep copy: put() pickles in a background thread, later, and the record keeps growing
                results.put(("epoch", index, copy.deepcopy(record)))

            record = train_variant(
                variant,
                seed,
                data,
                config,
                progress,
                on_epoch=send_epoch if send_epochs else None,
                position=position,
                label_width=label_width,
            )
            results.put(("done", index, record))
    except BaseException:
        results.put(("failed", index, traceback.format_exc()))


def load_data(spec):
    """(train set, test set) for ``--data``: 'digits', or a folder of MNIST IDX files or CIFAR-10 batches."""
    if spec == "digits":
        return load_digits()
    folder = Path(spec)
    if not folder.is_dir():
        raise SystemExit(
            f"minidl degradation: --data must be 'digits' or a folder of MNIST or CIFAR-10 files; "
            f"{spec!r} is not a folder"
        )
    loader = load_cifar10 if (folder / "test_batch").exists() else load_mnist
    try:
        return loader(folder, train=True), loader(folder, train=False)
    except FileNotFoundError as error:
        raise SystemExit(
            f"minidl degradation: {error} (expected MNIST IDX files such as "
            "train-images-idx3-ubyte[.gz], or CIFAR-10's data_batch_1..5 and test_batch)"
        ) from None


def flow_ratio(norms):
    """First conv layer's gradient norm over the last one's."""
    values = list(norms.values())
    return values[0] / values[-1] if values and values[-1] > 0 else float("inf")


def summary_table(runs):
    """One line per variant (mean over seeds): final training loss and error, test error, gradient ratio."""
    from minidl.degradation_plots import group_runs

    header = f"{'run':<34}{'train loss':>11}{'train err':>11}{'test err':>10}{'grad first/last':>17}{'time':>8}"
    lines = [header, "-" * len(header)]
    for name, group in group_runs(runs).items():
        last = [run["epochs"][-1] for run in group]
        ratio = np.mean([flow_ratio(run["gradient_flow"]["init"]) for run in group])
        lines.append(
            f"{name:<34}{np.mean([e['train_loss'] for e in last]):>11.4f}"
            f"{100 * np.mean([e['train_error'] for e in last]):>10.1f}%"
            f"{100 * np.mean([e['test_error'] for e in last]):>9.1f}%"
            f"{ratio:>17.3g}{np.mean([run['seconds'] for run in group]):>7.0f}s"
        )
    return "\n".join(lines)


def write_results(out, config, runs, wall_time):
    """results.json (everything) and results.csv (one row per epoch of every run), written atomically."""
    import numba

    document = {
        "config": asdict(config),
        "versions": {
            "minidl": minidl.__version__,
            "numpy": np.__version__,
            "numba": numba.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "wall_time_seconds": wall_time,
        "runs": runs,
    }
    with atomic_write(out / "results.json", "w") as handle:
        json.dump(document, handle, indent=1)
    text = io.StringIO()
    columns = [
        "name",
        "depth",
        "residual",
        "batch_norm",
        "zero_init",
        "seed",
        "epoch",
        "lr",
        "train_loss",
        "train_error",
        "test_loss",
        "test_error",
        "seconds",
    ]
    writer = csv.DictWriter(text, columns, extrasaction="ignore")
    writer.writeheader()
    for run in runs:
        for epoch in run["epochs"]:
            writer.writerow({**run, **epoch})
    with atomic_write(out / "results.csv", "w") as handle:
        handle.write(text.getvalue())


def save_figures(out, config, runs):
    from minidl.degradation_plots import ablation_figure, curves_figure, gradient_flow_figure

    deepest = max(config.depths)
    first_seed = config.seeds[0]
    flows = {
        run["name"]: run["gradient_flow"]["init"]
        for run in runs
        if run["depth"] == deepest and run["seed"] == first_seed
    }
    figures = {"curves.png": curves_figure(runs, config.depths), "gradient_flow.png": gradient_flow_figure(flows)}
    if config.ablation:
        figures["ablation.png"] = ablation_figure(runs, deepest)
    for filename, figure in figures.items():
        with atomic_write(out / filename, "wb") as handle:
            figure.savefig(handle, format="png", dpi=110)
    return list(figures)


class LivePlot:
    """A matplotlib window that redraws the training-error curves after every epoch (``--live``)."""

    def __init__(self):
        import matplotlib.pyplot as plt

        self.plt = plt
        plt.ion()
        self.figure, self.axis = plt.subplots(figsize=(12, 7))
        self.lines = {}

    def update(self, record):
        errors = [100 * epoch["train_error"] for epoch in record["epochs"]]
        key = (record["name"], record["seed"])
        if key not in self.lines:
            (self.lines[key],) = self.axis.plot([], [], linewidth=3, label=record["name"])
            self.axis.set(xlabel="epoch", ylabel="training error (%)", ylim=(0, 100), title="Training error, live")
            self.axis.legend(loc="upper right", fontsize=14)
        self.lines[key].set_data(range(1, len(errors) + 1), errors)
        self.axis.relim()
        self.axis.autoscale_view(scaley=False)
        self.plt.pause(0.05)

    def idle(self):
        """Let the window respond (move, resize) while waiting for the next epoch."""
        self.figure.canvas.flush_events()


PREDICT_QUESTION = (
    "Predict, then run. We are about to train a {depth}-layer plain network and a {depth}-layer residual "
    "network.\nWhich will reach the lower TRAINING error?  [p] plain  [r] residual  [s] about the same: "
)


def ask_prediction(depth):
    """Ask the room which deep network trains better; None when there is no one to ask (no terminal)."""
    if not sys.stdin.isatty():
        print("--predict: no terminal to answer on, skipping the question")
        return None
    answer = input(PREDICT_QUESTION.format(depth=depth)).strip().lower()[:1]
    return answer if answer in ("p", "r", "s") else None


def reveal(prediction, runs, depth):
    """Compare the room's prediction with what happened at the deepest depth."""
    from minidl.degradation_plots import group_runs

    groups = group_runs(runs)
    final = {
        kind: np.mean([run["epochs"][-1]["train_error"] for run in groups[f"{kind}-{depth}"]])
        for kind in ("plain", "residual")
    }
    if abs(final["plain"] - final["residual"]) < 0.01:
        truth = "s"
    else:
        truth = "r" if final["residual"] < final["plain"] else "p"
    words = {"p": "the plain network", "r": "the residual network", "s": "about the same"}
    print(
        f"\nPrediction: {words.get(prediction, 'none')}. Result: plain-{depth} ended at "
        f"{100 * final['plain']:.1f}% training error, residual-{depth} at {100 * final['residual']:.1f}%: "
        f"{words[truth]}. {'Well predicted!' if prediction == truth else 'Surprised? That is the degradation problem.'}"
    )


def parse_args(argv=None):
    parser = argparse.ArgumentParser(prog="minidl degradation", description=__doc__.split("\n\n")[0])
    return add_arguments(parser).parse_args(argv)


def add_arguments(parser):
    parser.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="quick",
        help="quick: depths 8 and 56, one seed (about 70 s on 2 cores, 90 s the first time); "
        "full: depths 8 20 32 56, three seeds",
    )
    parser.add_argument("--depths", type=int, nargs="+", help="network depths, each 6n+2 (e.g. 8 20 56)")
    parser.add_argument("--seeds", type=int, nargs="+", help="random seeds; one run of every network per seed")
    parser.add_argument("--widths", type=int, nargs=3, help="channels of the three stages (default 8 16 32)")
    parser.add_argument("--epochs", type=int, help="epochs per run (default 15)")
    parser.add_argument("--lr", type=float, help="peak learning rate of SGD (default 0.05)")
    parser.add_argument("--momentum", type=float, help="SGD momentum (default 0.9)")
    parser.add_argument("--weight-decay", type=float, help="SGD weight decay (default 0)")
    parser.add_argument("--batch-size", type=int, help="batch size (default 128)")
    parser.add_argument("--warmup-epochs", type=int, help="epochs of linear learning-rate warm-up (default 2)")
    parser.add_argument(
        "--max-grad-norm-no-bn",
        dest="max_grad_norm_without_bn",
        type=float,
        help="gradient-norm cap for the networks without batch norm (default 1.0)",
    )
    parser.add_argument(
        "--data",
        default="digits",
        help="'digits' (embedded, default) or a folder with MNIST IDX files or CIFAR-10 python batches",
    )
    parser.add_argument(
        "--no-ablation", dest="ablation", action="store_false", help="skip the two deep variants without batch norm"
    )
    parser.add_argument(
        "--jobs",
        type=int,
        metavar="N",
        help="trainings at a time, each in its own process (default: one per CPU core, here "
        f"{usable_cpus()}); 1 trains one after another in this process",
    )
    parser.add_argument("--out", help="output folder (default runs/degradation-<timestamp>)")
    parser.add_argument("--live", action="store_true", help="show a live matplotlib window of the curves")
    parser.add_argument("--predict", action="store_true", help="ask the room for a prediction first, reveal at the end")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")
    return parser


def config_from_args(args):
    """The preset's settings, overridden by every option given on the command line."""
    config = Config(preset=args.preset, **{key: tuple(value) for key, value in PRESETS[args.preset].items()})
    for name in ("depths", "seeds", "widths"):
        if getattr(args, name):
            setattr(config, name, tuple(getattr(args, name)))
    for name in ("epochs", "lr", "momentum", "weight_decay", "batch_size", "warmup_epochs", "max_grad_norm_without_bn"):
        if getattr(args, name) is not None:
            setattr(config, name, getattr(args, name))
    config.data, config.ablation = args.data, args.ablation
    config.out = args.out or str(Path("runs") / time.strftime("degradation-%Y%m%d-%H%M%S"))
    for depth in config.depths:
        if depth < 8 or (depth - 2) % 6:
            raise SystemExit(f"minidl degradation: --depths must be 6n + 2 (8, 14, 20, 32, 56, ...), got {depth}")
    for name in ("epochs", "batch_size"):
        if getattr(config, name) < 1:
            raise SystemExit(f"minidl degradation: --{name.replace('_', '-')} must be at least 1")
    if args.jobs is not None and args.jobs < 1:
        raise SystemExit(f"minidl degradation: --jobs must be at least 1 (trainings at a time), got {args.jobs}")
    config.jobs = min(args.jobs or usable_cpus(), len(variants(config)) * len(config.seeds))
    return config


def run(args):
    """Entry point of ``minidl degradation``: train every variant, then write figures, tables and data."""
    import matplotlib

    if not args.live:
        matplotlib.use("Agg")
    config = config_from_args(args)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    data = load_data(config.data)
    deepest = max(config.depths)
    prediction = ask_prediction(deepest) if args.predict else None
    live = LivePlot() if args.live else None
    to_run = variants(config)
    at_a_time = f", {config.jobs} at a time (one process each)" if config.jobs > 1 else ""
    print(
        f"minidl degradation ({config.preset}): {len(to_run)} networks x {len(config.seeds)} seed(s), "
        f"{config.epochs} epochs each, on {config.data}{at_a_time}; writing to {out}/",
        flush=True,
    )
    tasks = [(variant, seed) for seed in config.seeds for variant in to_run]
    started = time.perf_counter()
    if config.jobs == 1:
        runs = train_one_by_one(tasks, data, config, args.progress, live)
    else:
        del data  # each worker loads its own copy: no need to hold a third one here meanwhile
        # several bars redraw themselves in place, which needs a terminal; in a log file or a pipe their
        # cursor movements would be garbage, and the lines printed as each network finishes say enough
        show_bars = args.progress and sys.stdout.isatty() and sys.stderr.isatty()
        runs = train_in_workers(tasks, config, show_bars, live)
    wall_time = time.perf_counter() - started
    write_results(out, config, runs, wall_time)
    figures = save_figures(out, config, runs)
    print("\n" + summary_table(runs))
    print(
        f"\nGradient flow at initialisation (depth {deepest}, first conv / last conv gradient norm): a large "
        "ratio means the gradient explodes toward the input; tiny norms everywhere mean the signal has died."
    )
    print(f"\nDone in {wall_time:.0f}s. Wrote {', '.join(figures)}, results.json and results.csv to {out}/")
    if args.predict:
        reveal(prediction, runs, deepest)
    return 0


def main(argv=None):
    return run(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
