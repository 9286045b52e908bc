"""A small MLP on the embedded 8x8 digits: 64 -> 128 -> 64 -> 10, trained with Adam in about a second.

Run it with ``python examples/mlp_digits.py``; it prints the test accuracy (about 97%).
"""

from threadpoolctl import threadpool_limits

import minidl
import minidl.nn as nn
from minidl.data import DataLoader, load_digits
from minidl.optim import Adam
from minidl.train import fit


def main(epochs=15, seed=0, progress=True):
    minidl.manual_seed(seed)
    train_set, test_set = load_digits()
    train_loader = DataLoader(train_set, batch_size=64, shuffle=True)
    test_loader = DataLoader(test_set, batch_size=256)
    model = nn.Sequential(
        nn.Flatten(),
        nn.Linear(64, 128),
        nn.ReLU(),
        nn.Linear(128, 64),
        nn.ReLU(),
        nn.Linear(64, 10),
    )
    optimizer = Adam(model.parameters(), lr=2e-3)
    # Matrices this small multiply fastest on one thread: a multi-threaded BLAS spends more time
    # waking its threads than computing, and far more when other programs share the cores.
    with threadpool_limits(limits=1, user_api="blas"):
        history = fit(model, optimizer, train_loader, epochs, test_loader=test_loader, progress=progress, desc="mlp")
    accuracy = history[-1]["test_accuracy"]
    print(f"test accuracy: {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
