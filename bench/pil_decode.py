"""Decode + resize with PIL on one thread (torchvision's Resize on PIL
images is PIL's bilinear resize with antialiasing). Prints one JSON line."""
import json
import sys
import time

from PIL import Image

size = int(sys.argv[1])
files = sys.argv[2:]
data = []
for f in files:
    with open(f, "rb") as fh:
        data.append(fh.read())
import io

start = time.perf_counter()
for b in data:
    Image.open(io.BytesIO(b)).convert("RGB").resize((size, size), Image.BILINEAR)
seconds = time.perf_counter() - start
print(json.dumps({"bench": "pil_decode", "image_size": size, "images": len(data),
                  "seconds": round(seconds, 3), "images_per_second": round(len(data) / seconds, 3)}))
