"""The degradation demo's figures, drawn large enough to read from the back of a lecture hall.

Each function takes the demo's list of run records (see ``minidl.degradation``) and returns a
matplotlib Figure; the demo saves them. Over several seeds a line is the mean and the band spans
the lowest to the highest run.
"""

import matplotlib.pyplot as plt
import numpy as np

STYLE = {
    "font.size": 15,
    "axes.titlesize": 18,
    "axes.labelsize": 16,
    "legend.fontsize": 13,
    "lines.linewidth": 2.5,
    "axes.grid": True,
    "grid.alpha": 0.3,
}


def _series(runs, key):
    """Epochs and the per-seed values of ``key`` (one row per seed) of runs that share a name."""
    values = np.array([[epoch[key] for epoch in run["epochs"]] for run in runs], dtype=float)
    return np.arange(1, values.shape[1] + 1), values


def _plot_band(axis, runs, key, color, label, linestyle="-", linewidth=None, scale=1.0):
    epochs, values = _series(runs, key)
    values = values * scale
    axis.plot(epochs, values.mean(axis=0), color=color, linestyle=linestyle, label=label, linewidth=linewidth)
    if len(values) > 1:
        axis.fill_between(epochs, values.min(axis=0), values.max(axis=0), color=color, alpha=0.2, linewidth=0)


def group_runs(runs):
    """Runs grouped by name (one entry per seed), in the order they first appear."""
    groups = {}
    for run in runs:
        groups.setdefault(run["name"], []).append(run)
    return groups


def _colors(count):
    return plt.get_cmap("viridis")(np.linspace(0.0, 0.85, max(count, 1)))


def curves_figure(runs, depths):
    """Training (dashed) and test (solid) error against epoch: plain networks left, residual right,
    one colour per depth, as in He et al. 2016, figures 1 and 6."""
    groups = group_runs(runs)
    with plt.rc_context(STYLE):
        figure, axes = plt.subplots(1, 2, figsize=(16, 6.5), sharey=True)
        for axis, kind in zip(axes, ("plain", "residual"), strict=True):
            for color, depth in zip(_colors(len(depths)), depths, strict=True):
                name = f"{kind}-{depth}"
                if name not in groups:
                    continue
                _plot_band(axis, groups[name], "train_error", color, f"{name} train", "--", 2.0, 100)
                _plot_band(axis, groups[name], "test_error", color, f"{name} test", "-", 3.0, 100)
            axis.set_title(f"{kind.capitalize()} networks (with batch norm)")
            axis.set_xlabel("epoch")
            axis.legend(loc="center right")  # deep plain curves run along the top, the rest along the bottom
        axes[0].set_ylabel("error (%)")
        axes[0].set_ylim(0, 100)
        figure.suptitle("Deeper plain networks train worse; residual connections let depth help", fontsize=19)
        figure.tight_layout()
    return figure


def ablation_figure(runs, depth):
    """Training loss (log scale) and test error of the four deep variants: plain or residual, with or
    without batch norm."""
    groups = group_runs(runs)
    names = [name for name in groups if name.endswith(f"-{depth}") or f"-{depth} " in name]
    with plt.rc_context(STYLE):
        figure, (loss_axis, error_axis) = plt.subplots(1, 2, figsize=(16, 6.5))
        for color, name in zip(_colors(len(names)), names, strict=True):
            _plot_band(loss_axis, groups[name], "train_loss", color, name)
            _plot_band(error_axis, groups[name], "test_error", color, name, scale=100)
        loss_axis.set_yscale("log")
        loss_axis.axhline(np.log(10), color="gray", linestyle=":", linewidth=2)
        loss_axis.set_ylim(top=np.log(10) * 2.2)  # room above the line for its label
        last_epoch = max(len(run["epochs"]) for run in runs)
        loss_axis.text(
            last_epoch,
            np.log(10) * 1.15,
            "ln 10: guessing among 10 classes",
            color="gray",
            fontsize=13,
            ha="right",
            va="bottom",
        )
        loss_axis.set(title=f"Training loss, depth {depth}", xlabel="epoch", ylabel="cross-entropy (log scale)")
        error_axis.set(title=f"Test error, depth {depth}", xlabel="epoch", ylabel="error (%)", ylim=(0, 100))
        loss_axis.legend(loc="lower left")
        figure.suptitle("Ablation: what batch norm and residual connections each contribute", fontsize=19)
        figure.tight_layout()
    return figure


def gradient_flow_figure(flows):
    """Per-layer gradient norm of every conv weight at initialisation, input side on the left, log scale.

    ``flows`` maps a variant's name to its ``{layer_name: norm}`` (one seed's).
    """
    with plt.rc_context(STYLE):
        figure, axis = plt.subplots(figsize=(14, 7))
        for color, (name, norms) in zip(_colors(len(flows)), flows.items(), strict=True):
            values = np.array(list(norms.values()), dtype=float)
            ratio = values[0] / values[-1] if values[-1] > 0 else float("inf")
            label = f"{name}  (first/last = {ratio:.3g})"
            # a zero-initialised branch passes no gradient to its first conv at the start: log(0) has no point
            layers = np.flatnonzero(values > 0)
            if len(layers) < len(values):
                label += f"; {len(values) - len(layers)} layers at exactly 0 not drawn"
            axis.plot(layers + 1, values[layers], "o-", color=color, markersize=4, label=label)
        axis.set_yscale("log")
        axis.set(
            title="Gradient flow at initialisation",
            xlabel="conv layer (input side -> output side)",
            ylabel="||dL/dW|| (log scale)",
        )
        axis.legend(loc="best")
        figure.tight_layout()
    return figure
