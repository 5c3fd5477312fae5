"""The reference notebook's whole training run, for bench/learning.sh: a
stratified 80/20 split (seed 42), torchvision ImageFolder + PIL, Resize,
RandomHorizontalFlip(0.3), ToTensor, the VGG16 of reference_model.py, Adam
1e-4, ReduceLROnPlateau(0.1, 4) on the valid loss, batch 16, the best
weights by valid accuracy evaluated on the test root at the end. Prints one
line per epoch and a final JSON line (accuracy, per-class recall).

On a GPU (tests/gpu/e2e.sh): --device cuda runs it as the notebook does
(fp32, NCHW, num_workers=0); --tuned adds what a user tuning it would
(DataLoader workers, pinned memory, channels-last, bf16 autocast).
--early-stop N stops after N epochs without a lower valid loss, as the
notebook's early stopping; --max-minutes caps the wall time."""
import argparse
import json
import os
import random
import time

import torch
from torch.utils.data import DataLoader, Subset
from torchvision import datasets, transforms

from reference_model import VGG16

p = argparse.ArgumentParser()
p.add_argument("--data", required=True, help="root with train/ and test/")
p.add_argument("--image-size", type=int, default=64)
p.add_argument("--epochs", type=int, default=15)
p.add_argument("--seed", type=int, default=42)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--device", default="cpu")
p.add_argument("--tuned", action="store_true")
p.add_argument("--early-stop", type=int, default=0, help="patience on the valid loss (0 = off)")
p.add_argument("--max-minutes", type=float, default=0, help="stop after the epoch that passes this (0 = off)")
a = p.parse_args()
device = torch.device(a.device)
workers = min(8, os.cpu_count() or 1) if a.tuned else 0
loader_args = dict(num_workers=workers, pin_memory=a.tuned and device.type == "cuda",
                   persistent_workers=workers > 0)
memory_format = torch.channels_last if a.tuned else torch.contiguous_format

torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)
size = (a.image_size, a.image_size)
train_tf = transforms.Compose([transforms.Resize(size), transforms.RandomHorizontalFlip(0.3), transforms.ToTensor()])
eval_tf = transforms.Compose([transforms.Resize(size), transforms.ToTensor()])
train_all = datasets.ImageFolder(f"{a.data}/train", transform=train_tf)
eval_all = datasets.ImageFolder(f"{a.data}/train", transform=eval_tf)
by_class = {}
for i, (_, label) in enumerate(train_all.samples):
    by_class.setdefault(label, []).append(i)
rng = random.Random(42)  # the notebook's split seed
train_idx, valid_idx = [], []
for label in sorted(by_class):
    idx = by_class[label][:]
    rng.shuffle(idx)
    n_valid = round(len(idx) * 0.2)
    valid_idx += idx[:n_valid]
    train_idx += idx[n_valid:]
train = DataLoader(Subset(train_all, train_idx), batch_size=16, shuffle=True, **loader_args)
valid = DataLoader(Subset(eval_all, valid_idx), batch_size=64, **loader_args)
test = DataLoader(datasets.ImageFolder(f"{a.data}/test", transform=eval_tf), batch_size=64, **loader_args)

model = VGG16().to(device, memory_format=memory_format)
opt = torch.optim.Adam(model.parameters(), lr=1e-4)
sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.1, patience=4)
loss_fn = torch.nn.CrossEntropyLoss()


def to_device(x, y):
    return (x.to(device, non_blocking=True, memory_format=memory_format), y.to(device, non_blocking=True))


def autocast():
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=a.tuned and device.type == "cuda")


def evaluate(loader):
    model.eval()
    loss, correct, n = 0.0, 0, 0
    per_class = {}
    with torch.no_grad():
        for x, y in loader:
            x, y = to_device(x, y)
            with autocast():
                out = model(x).float()
            loss += loss_fn(out, y).item() * len(y)
            pred = out.argmax(1)
            correct += (pred == y).sum().item()
            n += len(y)
            for t, q in zip(y.tolist(), pred.tolist()):
                hit, total = per_class.get(t, (0, 0))
                per_class[t] = (hit + (t == q), total + 1)
    return loss / n, correct / n, [per_class[k][0] / per_class[k][1] for k in sorted(per_class)]


best_acc, best_state, start = -1.0, None, time.perf_counter()
best_loss, since_best, epoch, train_seconds = float("inf"), 0, 0, 0.0
while epoch < a.epochs:
    epoch += 1
    model.train()
    epoch_start = time.perf_counter()
    for x, y in train:
        x, y = to_device(x, y)
        opt.zero_grad()
        with autocast():
            loss = loss_fn(model(x).float(), y)
        loss.backward()
        opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - epoch_start
    train_seconds += seconds
    v_loss, v_acc, _ = evaluate(valid)
    sched.step(v_loss)
    if v_acc > best_acc:
        best_acc, best_state = v_acc, {k: t.clone() for k, t in model.state_dict().items()}
    since_best = 0 if v_loss < best_loss else since_best + 1
    best_loss = min(best_loss, v_loss)
    minutes = (time.perf_counter() - start) / 60
    print(f"epoch {epoch} valid_loss {v_loss:.4f} valid_acc {v_acc:.4f} train_s {seconds:.1f} "
          f"img/s {len(train_idx) / seconds:.1f} minutes {minutes:.2f}", flush=True)
    if a.early_stop and since_best >= a.early_stop:
        break
    if a.max_minutes and minutes >= a.max_minutes:
        print(f"stopped by --max-minutes {a.max_minutes}", flush=True)
        break
model.load_state_dict(best_state)
t_loss, t_acc, recall = evaluate(test)
print(json.dumps({"contender": "notebook-tuned" if a.tuned else "notebook", "device": a.device, "seed": a.seed,
                  "image_size": a.image_size, "epochs": epoch, "best_valid_acc": round(best_acc, 4),
                  "test_accuracy": round(t_acc, 4), "recall": [round(r, 4) for r in recall],
                  "train_images_per_second": round(len(train_idx) * epoch / train_seconds, 1),
                  "minutes": round((time.perf_counter() - start) / 60, 2)}))
