"""The notebook's side of the PyTorch interop tests (run with Debian's
python3-torch, /usr/bin/python3).

  notebook.py save OUT.pth WIDTH CLASSES SEED   random weights and BatchNorm
      statistics, saved as the notebook does: torch.save(model.state_dict())
  notebook.py load IN.pth WIDTH CLASSES         torch.load(weights_only=True),
      load_state_dict(strict=True)

Both print the eval-mode logits for the fixed input (JSON list of lists)."""
import json
import os
import sys

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
from reference_model import VGG16  # noqa: E402


def fixed_input():
    return torch.linspace(-1, 1, 2 * 3 * 32 * 32).reshape(2, 3, 32, 32)


def logits(model):
    model.eval()
    with torch.no_grad():
        return model(fixed_input()).tolist()


def main():
    verb, path, width, classes = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    torch.set_num_threads(1)
    if verb == "save":
        torch.manual_seed(int(sys.argv[5]))
        model = VGG16(num_classes=classes, width=width)
        # BatchNorm statistics of real activations (a random network's
        # defaults give nearly the same output for every input), and affine
        # parameters away from their defaults.
        batchnorms = [m for m in model.modules() if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
        with torch.no_grad():
            for m in batchnorms:
                m.momentum = None  # a plain average over the batches below
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
            model.train()
            for _ in range(4):
                model(torch.rand(8, 3, 32, 32) * 2 - 1)
            for m in batchnorms:
                m.num_batches_tracked.fill_(123)
        torch.save(model.state_dict(), path)
    elif verb == "load":
        model = VGG16(num_classes=classes, width=width)
        model.load_state_dict(torch.load(path, weights_only=True), strict=True)
    else:
        sys.exit(f"unknown verb {verb}")
    print(json.dumps(logits(model)))


if __name__ == "__main__":
    main()
