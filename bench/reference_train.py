"""The reference notebook's whole training run, for bench/learning.sh: a
stratified 80/20 split (seed 42), torchvision ImageFolder + PIL, Resize,
RandomHorizontalFlip(0.3), ToTensor, the VGG16 of reference_model.py, Adam
1e-4, ReduceLROnPlateau(0.1, 4) on the valid loss, batch 16, the best
weights by valid accuracy evaluated on the test root at the end. Prints one
line per epoch and a final JSON line (accuracy, per-class recall)."""
import argparse
import json
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
a = p.parse_args()

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
train = DataLoader(Subset(train_all, train_idx), batch_size=16, shuffle=True, num_workers=0)
valid = DataLoader(Subset(eval_all, valid_idx), batch_size=64, num_workers=0)
test = DataLoader(datasets.ImageFolder(f"{a.data}/test", transform=eval_tf), batch_size=64, num_workers=0)

model = VGG16()
opt = torch.optim.Adam(model.parameters(), lr=1e-4)
sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=0.1, patience=4)
loss_fn = torch.nn.CrossEntropyLoss()


def evaluate(loader):
    model.eval()
    loss, correct, n = 0.0, 0, 0
    per_class = {}
    with torch.no_grad():
        for x, y in loader:
            out = model(x)
            loss += loss_fn(out, y).item() * len(y)
            pred = out.argmax(1)
            correct += (pred == y).sum().item()
            n += len(y)
            for t, q in zip(y.tolist(), pred.tolist()):
                hit, total = per_class.get(t, (0, 0))
                per_class[t] = (hit + (t == q), total + 1)
    return loss / n, correct / n, [per_class[k][0] / per_class[k][1] for k in sorted(per_class)]


best_acc, best_state, start = -1.0, None, time.perf_counter()
for epoch in range(1, a.epochs + 1):
    model.train()
    for x, y in train:
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
    v_loss, v_acc, _ = evaluate(valid)
    sched.step(v_loss)
    if v_acc > best_acc:
        best_acc, best_state = v_acc, {k: t.clone() for k, t in model.state_dict().items()}
    print(f"epoch {epoch} valid_loss {v_loss:.4f} valid_acc {v_acc:.4f} minutes {(time.perf_counter() - start) / 60:.2f}",
          flush=True)
model.load_state_dict(best_state)
t_loss, t_acc, recall = evaluate(test)
print(json.dumps({"contender": "notebook", "seed": a.seed, "image_size": a.image_size, "epochs": a.epochs,
                  "test_accuracy": round(t_acc, 4), "recall": [round(r, 4) for r in recall],
                  "minutes": round((time.perf_counter() - start) / 60, 2)}))
