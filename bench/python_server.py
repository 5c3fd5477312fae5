"""What a user would write first: a plain Python gRPC server for
catdog.v1.InferenceService.Classify. One forward pass per request, PIL
decode, the same VGG16 and preprocessing (Resize, ToTensor), a thread pool.
Prints "python-server listening on 127.0.0.1:PORT" once ready.

  python_server.py --pb-dir DIR [--image-size 64] [--threads 2] [--port 0] [--device cpu|cuda]
DIR holds catdog/v1/catdog_pb2.py (protoc --python_out)."""
import argparse
import io
import sys
from concurrent import futures

import grpc
import torch
from PIL import Image
from torchvision import transforms

from reference_model import VGG16

p = argparse.ArgumentParser()
p.add_argument("--pb-dir", required=True)
p.add_argument("--image-size", type=int, default=64)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--port", type=int, default=0)
p.add_argument("--device", default="cpu", help="cpu or cuda (tests/gpu/e2e.sh)")
a = p.parse_args()
sys.path.insert(0, a.pb_dir)
from catdog.v1 import catdog_pb2  # noqa: E402

torch.set_num_threads(a.threads)
torch.manual_seed(0)
device = torch.device(a.device)
model = VGG16().to(device).eval()
classes = ["cat", "dog"]
tf = transforms.Compose([transforms.Resize((a.image_size, a.image_size)), transforms.ToTensor()])


def classify(request, context):
    response = catdog_pb2.ClassifyResponse(model_id="python", class_names=classes)
    tensors = []
    for image in request.images:
        tensors.append(tf(Image.open(io.BytesIO(image.data)).convert("RGB")))
    with torch.inference_mode():
        probs = torch.softmax(model(torch.stack(tensors).to(device)), 1).cpu()
    for image, p in zip(request.images, probs):
        k = int(p.argmax())
        response.results.add(id=image.id, label=classes[k], class_index=k, probabilities=p.tolist())
    return response


handler = grpc.method_handlers_generic_handler("catdog.v1.InferenceService", {
    "Classify": grpc.unary_unary_rpc_method_handler(
        classify, request_deserializer=catdog_pb2.ClassifyRequest.FromString,
        response_serializer=catdog_pb2.ClassifyResponse.SerializeToString)})
server = grpc.server(futures.ThreadPoolExecutor(max_workers=64))
server.add_generic_rpc_handlers((handler,))
port = server.add_insecure_port(f"127.0.0.1:{a.port}")
server.start()
print(f"python-server listening on 127.0.0.1:{port}", flush=True)
server.wait_for_termination()
