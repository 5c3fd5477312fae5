"""The reference notebook's training loop, for bench/run.sh: torchvision
ImageFolder + PIL, Resize, RandomHorizontalFlip(0.3), ToTensor, the same
VGG16, Adam 1e-4, batch 16, num_workers=0. Times BATCHES batches (data
loading included, as in the notebook) and prints one JSON line."""
import argparse
import json
import time

import torch
from torch.utils.data import DataLoader
from torchvision import datasets, transforms

from reference_model import VGG16

p = argparse.ArgumentParser()
p.add_argument("--data", required=True)
p.add_argument("--image-size", type=int, default=64)
p.add_argument("--batch", type=int, default=16)
p.add_argument("--batches", type=int, default=20)
p.add_argument("--threads", type=int, default=2)
a = p.parse_args()

torch.set_num_threads(a.threads)
torch.manual_seed(42)
tf = transforms.Compose([transforms.Resize((a.image_size, a.image_size)),
                         transforms.RandomHorizontalFlip(0.3), transforms.ToTensor()])
loader = DataLoader(datasets.ImageFolder(a.data, transform=tf), batch_size=a.batch, shuffle=True,
                    num_workers=0)
model = VGG16()
model.train()
opt = torch.optim.Adam(model.parameters(), lr=1e-4)
loss_fn = torch.nn.CrossEntropyLoss()
done = 0
start = time.perf_counter()
while done < a.batches:
    for x, y in loader:
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        loss.item()
        done += 1
        if done == a.batches:
            break
seconds = time.perf_counter() - start
print(json.dumps({"bench": "reference_loop", "image_size": a.image_size, "batches": done,
                  "seconds": round(seconds, 3),
                  "images_per_second": round(done * a.batch / seconds, 3)}))
