"""A small training loop: ``fit`` trains for some epochs and returns one record per epoch.

    history = fit(model, optimizer, train_loader, epochs=10, test_loader=test_loader)
    history[-1]  # {'epoch': 10, 'lr': 0.1, 'train_loss': ..., 'train_accuracy': ..., 'test_loss': ...}

One tqdm progress bar covers the whole run (every batch of every epoch), with the running loss and
error of the current epoch, and the last test error, on its right. ``train_epoch`` and ``evaluate``
are the two halves, usable on their own.
"""

import time

import numpy as np
from tqdm import tqdm

from minidl.autograd import no_grad
from minidl.nn import functional as F
from minidl.nn.utils import clip_grad_norm_


def _correct(outputs, targets):
    """How many rows of class scores ``outputs`` (N, C) pick the integer ``targets`` (N,); None otherwise."""
    targets = targets.data
    if outputs.ndim != 2 or targets.ndim != 1 or not np.issubdtype(targets.dtype, np.integer):
        return None
    return int(np.sum(outputs.data.argmax(axis=1) == targets))


class _Totals:
    """Sums over an epoch's batches: loss weighted by batch size, and correct predictions."""

    def __init__(self):
        self.examples, self.loss_sum, self.correct = 0, 0.0, 0

    def add(self, loss, outputs, targets):
        count = len(targets.data)
        correct = _correct(outputs, targets)
        self.examples += count
        self.loss_sum += loss.item() * count
        self.correct = None if correct is None or self.correct is None else self.correct + correct

    @property
    def loss(self):
        return self.loss_sum / max(self.examples, 1)

    @property
    def accuracy(self):
        return None if self.correct is None else self.correct / max(self.examples, 1)


def train_epoch(model, optimizer, loader, loss_fn=F.cross_entropy, on_batch=None, max_grad_norm=None):
    """One pass over ``loader`` in training mode; returns ``{'loss': mean loss, 'accuracy': ...}``.

    ``max_grad_norm``, if given, caps the joint norm of the gradients before each step
    (``minidl.nn.utils.clip_grad_norm_``).

    Accuracy is the fraction of argmax predictions equal to the targets (None unless the model
    outputs (N, C) class scores and the targets are integer classes). ``on_batch(loss, accuracy)``,
    if given, is called after every batch with the running means of the epoch so far.
    """
    model.train()
    totals = _Totals()
    for inputs, targets in loader:
        outputs = model(inputs)
        loss = loss_fn(outputs, targets)
        optimizer.zero_grad()
        loss.backward()
        if max_grad_norm is not None:
            clip_grad_norm_(model.parameters(), max_grad_norm)
        optimizer.step()
        totals.add(loss, outputs, targets)
        if on_batch is not None:
            on_batch(totals.loss, totals.accuracy)
    return {"loss": totals.loss, "accuracy": totals.accuracy}


def evaluate(model, loader, loss_fn=F.cross_entropy):
    """Mean loss and accuracy over ``loader`` in evaluation mode, without recording a graph.

    The model's training/evaluation mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    totals = _Totals()
    with no_grad():
        for inputs, targets in loader:
            outputs = model(inputs)
            totals.add(loss_fn(outputs, targets), outputs, targets)
    model.train(was_training)
    return {"loss": totals.loss, "accuracy": totals.accuracy}


# Short enough that a bar with a long label still fits a projector's 100 columns: how far, how long
# still, and the running training loss and error (and the last epoch's test error).
BAR_FORMAT = "{desc}: {percentage:3.0f}%|{bar}| {remaining} left{postfix}"


def _postfix(loss, accuracy, test_accuracy=None):
    postfix = f"loss {loss:.3f}"
    if accuracy is not None:
        postfix += f", err {100 * (1 - accuracy):.1f}%"
    if test_accuracy is not None:
        postfix += f", test err {100 * (1 - test_accuracy):.1f}%"
    return postfix


def fit(
    model,
    optimizer,
    train_loader,
    epochs,
    loss_fn=F.cross_entropy,
    test_loader=None,
    scheduler=None,
    scheduler_interval="epoch",
    max_grad_norm=None,
    progress=True,
    callback=None,
    desc=None,
    position=None,
):
    """Train ``model`` for ``epochs`` passes over ``train_loader``; returns the history, one dict per epoch.

    Each record has ``epoch`` (1, 2, ...), ``lr`` (the rate used in that epoch), ``train_loss``,
    ``train_accuracy``, ``test_loss`` and ``test_accuracy`` (None without ``test_loader``) and
    ``seconds``. ``scheduler.step()`` is called after every epoch, or after every
    batch with ``scheduler_interval="batch"`` (then the schedule counts optimizer steps, for a smooth
    warm-up; a record's ``lr`` is the rate its epoch started with). ``max_grad_norm`` clips gradients
    as in ``train_epoch``. ``callback(record)`` is called
    after every epoch; if it returns True, training stops there. ``progress=False`` hides the bar;
    ``desc`` labels it. ``position`` is for several bars on screen at once (one per process, sharing
    ``tqdm.set_lock``'s lock): the bar's line below the current one. Such a bar is cleared when done
    rather than left on screen, since the lines below it belong to the other bars.
    """
    if scheduler_interval not in ("epoch", "batch"):
        raise ValueError(f"fit: scheduler_interval must be 'epoch' or 'batch', got {scheduler_interval!r}")
    history, last_test_accuracy = [], None

    def after_batch(loss, accuracy):
        if scheduler is not None and scheduler_interval == "batch":
            scheduler.step()
        bar.update()
        bar.set_postfix_str(_postfix(loss, accuracy, last_test_accuracy), refresh=False)

    bar = tqdm(
        total=epochs * len(train_loader),
        desc=desc,
        disable=not progress,
        unit="batch",
        bar_format=BAR_FORMAT,
        position=position,
        leave=position is None,
    )
    with bar:
        for epoch in range(1, epochs + 1):
            started = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]
            train = train_epoch(model, optimizer, train_loader, loss_fn, after_batch, max_grad_norm)
            test = evaluate(model, test_loader, loss_fn) if test_loader is not None else None
            if scheduler is not None and scheduler_interval == "epoch":
                scheduler.step()
            record = {
                "epoch": epoch,
                "lr": lr,
                "train_loss": train["loss"],
                "train_accuracy": train["accuracy"],
                "test_loss": None if test is None else test["loss"],
                "test_accuracy": None if test is None else test["accuracy"],
                "seconds": time.perf_counter() - started,
            }
            history.append(record)
            last_test_accuracy = record["test_accuracy"]
            bar.set_postfix_str(_postfix(train["loss"], train["accuracy"], last_test_accuracy))
            if callback is not None and callback(record):
                break
    return history
