"""``minidl bn-modes``: batch norm's two behaviours, on one test image.

Trains a small network with batch norm on the embedded digits for a few seconds, then feeds one
test image to it inside three different batches. In train mode its output changes with the batch
around it; in eval mode it is the same every time.
"""

import argparse
import sys

import numpy as np

import minidl
from minidl import optim
from minidl.data import DataLoader, load_digits
from minidl.models import cifar_resnet
from minidl.train import fit

EXPLANATION = (
    "Why: in train mode batch norm normalises every channel with the mean and variance of the batch at hand, "
    "so an example's output depends on the examples beside it; in eval mode it uses the running averages "
    "collected during training, fixed numbers, so each example is normalised the same way in any batch."
)


def add_arguments(parser):
    parser.add_argument("--epochs", type=int, default=4, help="training epochs before the comparison (default 4)")
    parser.add_argument("--depth", type=int, default=8, help="depth of the residual network (default 8)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--index", type=int, default=0, help="which test image to follow (default 0)")
    return parser


def _batches(image_index, test_images, test_labels, rng):
    """Three batches that hold the chosen image at position 0: alone, among random test images, and
    among images that all belong to one other class."""
    label = test_labels[image_index]
    others = np.flatnonzero(np.arange(len(test_labels)) != image_index)
    random_mates = rng.choice(others, size=min(127, len(others)), replace=False)
    other_class = (label + 1) % 10
    same_class_mates = np.flatnonzero(test_labels == other_class)[:127]
    return {
        "alone (batch of 1)": [image_index],
        f"with {len(random_mates)} random test images": [image_index, *random_mates],
        f"with {len(same_class_mates)} images all of class {other_class}": [image_index, *same_class_mates],
    }


def _probabilities(model, images):
    with minidl.no_grad():
        return model(minidl.Tensor(images)).softmax(dim=1).numpy()[0]


def run(args):
    minidl.manual_seed(args.seed)
    train_set, test_set = load_digits()
    test_images, test_labels = (tensor.numpy() for tensor in test_set.tensors)
    model = cifar_resnet(args.depth, widths=(8, 16, 32), in_channels=1, num_classes=10)
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    print(f"Training residual-{args.depth} with batch norm for {args.epochs} epochs on the digits...")
    fit(
        model,
        optimizer,
        DataLoader(train_set, batch_size=128, shuffle=True),
        args.epochs,
        desc=f"residual-{args.depth}",
    )

    label = int(test_labels[args.index])
    batches = _batches(args.index, test_images, test_labels, np.random.default_rng(args.seed))
    print(f"\nTest image {args.index} (a {label}), p(true class) and the predicted class in each batch:")
    trained_state = model.state_dict()
    for mode in ("train", "eval"):
        model.train(mode == "train")
        print(f"\n  {mode} mode ({'batch statistics' if mode == 'train' else 'running statistics'}):")
        outputs = []
        for description, indices in batches.items():
            probabilities = _probabilities(model, test_images[indices])
            outputs.append(probabilities)
            print(
                f"    {description:<38} p({label}) = {probabilities[label]:.3f}, "
                f"predicted {int(probabilities.argmax())}"
            )
            model.load_state_dict(trained_state)  # a train-mode forward moved the running statistics
        spread = max(np.abs(output - outputs[0]).max() for output in outputs)
        print(f"    largest change of any probability across the batches: {spread:.3g}")
    print("\n" + EXPLANATION)
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="minidl bn-modes", description=__doc__.split("\n\n")[0])
    return run(add_arguments(parser).parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
