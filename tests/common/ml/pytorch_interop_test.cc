#include "common/ml/pytorch_interop.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include <caffe2/serialize/inline_container.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "common/ml/checkpoint.h"
#include "tests/support/test_data.h"

namespace catdog::common {
namespace {

using catdog::testing::TempDir;
using namespace std::string_literals;

// The input tests/interop/notebook.py feeds both sides.
torch::Tensor FixedInput() { return torch::linspace(-1, 1, 2 * 3 * 32 * 32).reshape({2, 3, 32, 32}); }

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Debian's python3-torch, when installed; the notebook side of the tests.
bool HavePythonTorch() {
  static const bool have = std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") == 0;
  return have;
}

// Runs tests/interop/notebook.py and returns its logits.
torch::Tensor Notebook(const std::string& args) {
  const std::string command =
      std::string("/usr/bin/python3 ") + CATDOG_SOURCE_DIR + "/tests/interop/notebook.py " + args;
  FILE* pipe = popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr);
  std::string out;
  char buffer[4096];
  while (size_t n = fread(buffer, 1, sizeof(buffer), pipe)) out.append(buffer, n);
  EXPECT_EQ(pclose(pipe), 0) << command;
  const auto rows = nlohmann::json::parse(out).get<std::vector<std::vector<float>>>();
  torch::Tensor t = torch::empty({static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())});
  for (size_t r = 0; r < rows.size(); ++r) {
    for (size_t c = 0; c < rows[r].size(); ++c) t[r][c] = rows[r][c];
  }
  return t;
}

torch::Tensor CatdogLogits(const std::string& checkpoint) {
  auto loaded = LoadCheckpoint(checkpoint, c10::Device(c10::kCPU));
  EXPECT_TRUE(loaded.ok()) << loaded.status();
  torch::NoGradGuard no_grad;
  return loaded->model->forward(FixedInput());
}

class PyTorchInteropTest : public ::testing::Test {
 protected:
  // A width-1/4 three-class model with BatchNorm statistics of real
  // activations (a fresh network answers every input nearly alike).
  std::string WriteCheckpoint() {
    torch::manual_seed(3);
    Vgg16 model(VggOptions{3, 0.25});
    torch::NoGradGuard no_grad;
    model->train();
    for (int i = 0; i < 20; ++i) model->forward(torch::rand({8, 3, 32, 32}) * 2 - 1);
    model->eval();
    ModelCard card;
    card.width = 0.25;
    card.class_names = {"cat", "dog", "fox"};
    card.preprocessing.image_size = 48;
    card.kind = "best";
    const std::string path = dir_.Sub("job/best.ckpt");
    EXPECT_TRUE(SaveCheckpoint(path, card, model, nullptr).ok());
    return path;
  }

  TempDir dir_;
};

TEST_F(PyTorchInteropTest, ExportLoadsStrictlyInTheNotebookWithTheSameOutputs) {
  if (!HavePythonTorch()) GTEST_SKIP() << "no python3-torch at /usr/bin/python3";
  const std::string checkpoint = WriteCheckpoint();
  absl::StatusOr<std::string> bytes = ExportStateDict(checkpoint);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const std::string pth = dir_.Sub("model.pth");
  catdog::testing::WriteFile(pth, *bytes);

  const torch::Tensor python = Notebook("load " + pth + " 0.25 3");
  const torch::Tensor cpp = CatdogLogits(checkpoint);
  EXPECT_LT((python - cpp).abs().max().item<float>(), 1e-5) << python << cpp;
  EXPECT_GT((cpp[0] - cpp[1]).abs().max().item<float>(), 1e-3) << "the model must tell inputs apart";
}

TEST_F(PyTorchInteropTest, NotebookStateDictImportsWithTheSameOutputs) {
  if (!HavePythonTorch()) GTEST_SKIP() << "no python3-torch at /usr/bin/python3";
  const std::string pth = dir_.Sub("notebook.pth");
  const torch::Tensor python = Notebook("save " + pth + " 0.25 2 11");

  ImportOptions options;
  options.class_names = {"cat", "dog"};
  options.image_size = 64;
  const std::string checkpoint = dir_.Sub("imported.ckpt");
  absl::StatusOr<ModelCard> card = ImportStateDict(ReadAll(pth), options, checkpoint);
  ASSERT_TRUE(card.ok()) << card.status();
  EXPECT_EQ(card->kind, "imported");
  EXPECT_DOUBLE_EQ(card->width, 0.25);
  EXPECT_EQ(card->preprocessing.image_size, 64);
  EXPECT_FALSE(card->preprocessing.normalize);

  const torch::Tensor cpp = CatdogLogits(checkpoint);
  EXPECT_LT((python - cpp).abs().max().item<float>(), 1e-5) << python << cpp;
  EXPECT_GT((python[0] - python[1]).abs().max().item<float>(), 1e-3) << "the model must tell inputs apart";
  // The BatchNorm step counters came along too.
  auto loaded = LoadCheckpoint(checkpoint, c10::Device(c10::kCPU));
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->model->named_buffers()["conv_block1.1.num_batches_tracked"].item<int64_t>(), 123);
}

TEST_F(PyTorchInteropTest, ExportReimportsWithoutNamingClassesAgain) {
  const std::string checkpoint = WriteCheckpoint();
  absl::StatusOr<std::string> bytes = ExportStateDict(checkpoint);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<ModelCard> card = ImportStateDict(*bytes, ImportOptions{}, dir_.Sub("again.ckpt"));
  ASSERT_TRUE(card.ok()) << card.status();
  EXPECT_EQ(card->class_names, (std::vector<std::string>{"cat", "dog", "fox"}));
  EXPECT_EQ(card->preprocessing.image_size, 48);
  EXPECT_TRUE(torch::equal(CatdogLogits(checkpoint), CatdogLogits(dir_.Sub("again.ckpt"))));
}

TEST_F(PyTorchInteropTest, MismatchesAreNamed) {
  const std::string checkpoint = WriteCheckpoint();
  const std::string bytes = *ExportStateDict(checkpoint);
  ImportOptions two;
  two.class_names = {"cat", "dog"};
  absl::Status status = ImportStateDict(bytes, two, dir_.Sub("x.ckpt")).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("3 outputs but 2 class names"), std::string::npos) << status;
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("x.ckpt")));
}

// A hand-made archive: `pickle` as data.pkl, plus `extra` records.
std::string Archive(const std::string& pickle, const std::vector<std::pair<std::string, std::string>>& extra = {}) {
  std::string out;
  caffe2::serialize::PyTorchStreamWriter writer([&out](const void* buf, size_t n) {
    out.append(static_cast<const char*>(buf), n);
    return n;
  });
  writer.writeRecord("data.pkl", pickle.data(), pickle.size());
  for (const auto& [name, data] : extra) writer.writeRecord(name, data.data(), data.size());
  writer.writeEndOfFile();
  return out;
}

TEST_F(PyTorchInteropTest, HostileFilesAreRefusedNeverRun) {
  ImportOptions options;
  options.class_names = {"cat", "dog"};
  const std::string target = dir_.Sub("hostile.ckpt");
  auto refused = [&](const std::string& bytes, const std::string& expected) {
    absl::Status status = ImportStateDict(bytes, options, target).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_NE(status.message().find(expected), std::string::npos) << status;
    EXPECT_FALSE(std::filesystem::exists(target));
  };
  refused("", "not a PyTorch state-dict file");
  refused(std::string(100000, 'x'), "not a PyTorch state-dict file");
  // pickle's classic exploit: os.system("...") on load.
  refused(Archive("\x80\x02" "cos\nsystem\n" "X\x04\x00\x00\x00true" "\x85R."s), "refusing the global os.system");
  refused(Archive("\x80\x02" "c__builtin__\neval\n."), "refusing the global __builtin__.eval");
  // Tensor views over a 4-float storage: reaching past it, expanded by a
  // stride of 0 to a billion elements, and sizes whose product overflows.
  const auto view = [](const std::string& sizes, const std::string& strides) {
    return Archive("\x80\x02}(X\x01\x00\x00\x00w"
                   "ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storage"
                   "ctorch\nFloatStorage\nX\x01\x00\x00\x00" "0" "X\x03\x00\x00\x00" "cpuK\x04tQ"
                   "K\x00("s + sizes + "t(" + strides + "t\x89)tRu."s,
                   {{"data/0", std::string(16, '\0')}});
  };
  refused(view("K\x08", "K\x01"), "past the end of storage");
  refused(view("J\x00\x00\x10\x00J\x00\x04\x00\x00"s, "K\x00K\x00"s), "past the end of storage");
  const std::string big = "\x8a\x08\x00\x00\x00\x00\x00\x00\x00\x40"s;  // LONG1 2^62
  refused(view(big + big, "K\x01K\x01"), "huge size or stride");
  // The same view within its storage imports as far as the names check.
  const absl::Status fits = ImportStateDict(view("K\x04", "K\x01"), options, target).status();
  EXPECT_NE(fits.message().find("classifier.0.weight"), std::string::npos) << fits;
  // Lists nested 100,000 deep (destroying them would overflow the stack).
  refused(Archive("\x80\x02" + std::string(100000, ']') + std::string(100000, 'a') + "."), "");
  refused(Archive("\x80\x02(" + std::string(200, '(') + std::string(200, 't') + "t."), "nested too deeply");
  // Truncated export.
  const std::string good = *ExportStateDict(WriteCheckpoint());
  refused(good.substr(0, good.size() / 2), "");
  refused(Archive("\x80\x02K\x01."), "holds no state dict");
}

}  // namespace
}  // namespace catdog::common
