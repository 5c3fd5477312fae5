"""A stock Open Inference Protocol (KServe v2) client against catdogd, with
stubs generated from proto/inference/grpc_predict_v2.proto by protoc and
grpc_python_plugin (run with /usr/bin/python3: Debian's python3-grpcio and
python3-torch).

  oip_client.py STUBS_DIR ADDRESS IMAGES_DIR NOTEBOOK_PTH WIDTH IMAGE_SIZE

Checks the six methods; a BYTES request with encoded images, the same in
raw_input_contents, and an FP32 NCHW tensor whose probabilities must match the
notebook's own forward pass of the same weights to 1e-5. Prints a summary."""
import json
import os
import struct
import sys

stubs, address, images_dir, pth, width, size = sys.argv[1:7]
width, size = float(width), int(size)
sys.path.insert(0, stubs)
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))

import grpc  # noqa: E402
import torch  # noqa: E402

from inference import grpc_predict_v2_pb2 as pb  # noqa: E402
from inference import grpc_predict_v2_pb2_grpc as pb_grpc  # noqa: E402
from reference_model import VGG16  # noqa: E402


def check(cond, what):
    if not cond:
        sys.exit(f"OIP client: {what}")


stub = pb_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(address))
check(stub.ServerLive(pb.ServerLiveRequest()).live, "not live")
check(stub.ServerReady(pb.ServerReadyRequest()).ready, "not ready")
meta = stub.ServerMetadata(pb.ServerMetadataRequest())
check(meta.name == "catdog", f"server name {meta.name}")
model = stub.ModelMetadata(pb.ModelMetadataRequest(name="catdog"))
check([i.name for i in model.inputs] == ["image", "input"], f"inputs {model.inputs}")
check(list(model.inputs[1].shape) == [-1, 3, size, size], f"FP32 shape {model.inputs[1].shape}")
check(stub.ModelReady(pb.ModelReadyRequest(name="catdog")).ready, "model not ready")
check(stub.ModelReady(pb.ModelReadyRequest(name="catdog", version=model.versions[0])).ready, "version not ready")
try:
    stub.ModelReady(pb.ModelReadyRequest(name="resnet50"))
    sys.exit("OIP client: an unknown model was found")
except grpc.RpcError as e:
    check(e.code() == grpc.StatusCode.NOT_FOUND, f"unknown model: {e.code()}")

files = sorted(os.path.join(r, f) for r, _, fs in os.walk(images_dir) for f in fs)
encoded = [open(f, "rb").read() for f in files]

# BYTES, in contents.
request = pb.ModelInferRequest(model_name="catdog", id="req-1")
image = request.inputs.add(name="image", datatype="BYTES", shape=[len(encoded)])
image.contents.bytes_contents.extend(encoded)
reply = stub.ModelInfer(request)
check(reply.id == "req-1", "id not echoed")
classes = json.loads(reply.parameters["class_names"].string_param)
outputs = {o.name: o for o in reply.outputs}
check(list(outputs["probabilities"].shape) == [len(encoded), len(classes)], "probabilities shape")
probs = list(outputs["probabilities"].contents.fp32_contents)
labels = [b.decode() for b in outputs["label"].contents.bytes_contents]
for i, label in enumerate(labels):
    row = probs[i * len(classes):(i + 1) * len(classes)]
    check(abs(sum(row) - 1) < 1e-4, f"row {i} does not sum to 1")
    check(classes[row.index(max(row))] == label, f"label {i} is not the argmax")

# The same in raw_input_contents: the same answer, in raw_output_contents.
raw_request = pb.ModelInferRequest(model_name="catdog")
raw_request.inputs.add(name="image", datatype="BYTES", shape=[len(encoded)])
raw_request.raw_input_contents.append(b"".join(struct.pack("<I", len(e)) + e for e in encoded))
raw_reply = stub.ModelInfer(raw_request)
raw_probs = list(struct.unpack(f"<{len(probs)}f", raw_reply.raw_output_contents[0]))
check(max(abs(a - b) for a, b in zip(probs, raw_probs)) == 0, "raw and contents answers differ")

# FP32 NCHW: the notebook's forward of the same weights on the same tensor.
x = torch.linspace(-1, 1, 2 * 3 * size * size).reshape(2, 3, size, size)
fp32 = pb.ModelInferRequest(model_name="catdog", outputs=[pb.ModelInferRequest.InferRequestedOutputTensor(
    name="probabilities")])
fp32.inputs.add(name="input", datatype="FP32", shape=list(x.shape))
fp32.raw_input_contents.append(x.numpy().astype("<f4").tobytes())
fp32_reply = stub.ModelInfer(fp32)
check([o.name for o in fp32_reply.outputs] == ["probabilities"], "asked for probabilities only")
served = torch.tensor(struct.unpack(f"<{2 * len(classes)}f", fp32_reply.raw_output_contents[0])).reshape(2, -1)
net = VGG16(num_classes=len(classes), width=width)
net.load_state_dict(torch.load(pth, weights_only=True))
net.eval()
with torch.no_grad():
    expected = torch.softmax(net(x), 1)
diff = (served - expected).abs().max().item()
check(diff <= 1e-5, f"FP32 probabilities differ from the notebook's by {diff}")
check((expected[0] - expected[1]).abs().max() > 1e-3, "the test model answers every input alike")

# A bad request is a clear INVALID_ARGUMENT.
bad = pb.ModelInferRequest(model_name="catdog")
bad.inputs.add(name="input", datatype="FP32", shape=[1, 3, size + 1, size + 1])
try:
    stub.ModelInfer(bad)
    sys.exit("OIP client: a wrong shape was accepted")
except grpc.RpcError as e:
    check(e.code() == grpc.StatusCode.INVALID_ARGUMENT and "shape" in e.details(), f"wrong shape: {e}")

print(json.dumps({"model_version": reply.model_version, "classes": classes, "images": len(encoded),
                  "labels": labels, "fp32_max_diff_vs_notebook": diff}))
