"""The reference VGG16's forward pass in eager PyTorch (eval mode, inference
mode), median time per batch. Prints one JSON line."""
import argparse
import json
import statistics
import time

import torch

from reference_model import VGG16

p = argparse.ArgumentParser()
p.add_argument("--image-size", type=int, default=64)
p.add_argument("--batch", type=int, default=1)
p.add_argument("--iters", type=int, default=30)
p.add_argument("--threads", type=int, default=2)
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(0)
model = VGG16().eval()
x = torch.rand(a.batch, 3, a.image_size, a.image_size)
times = []
with torch.inference_mode():
    model(x)
    for _ in range(a.iters):
        t = time.perf_counter()
        model(x)
        times.append((time.perf_counter() - t) * 1000)
median = statistics.median(times)
print(json.dumps({"bench": "eager_forward", "image_size": a.image_size, "batch": a.batch,
                  "median_ms": round(median, 3), "images_per_second": round(a.batch * 1000 / median, 3)}))
