#include "common/ml/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <ostream>
#include <streambuf>
#include <string_view>

#include <torch/torch.h>
#include <zlib.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/data/status_macros.h"
#include "common/ml/torch_status.h"

namespace catdog::common {
namespace fs = std::filesystem;

namespace {

constexpr const char* kCardKey = "catdog_model_card";
constexpr const char* kStateKey = "state_dict";
constexpr const char* kOptimizerKey = "optimizer";
constexpr const char* kTrainingStateKey = "catdog_training_state";
// With a moving average of the weights, the state dict holds the average
// (the model served) and this key the weights the optimizer trains.
constexpr const char* kTrainingWeightsKey = "training_state_dict";

// Flat state dict with the reference names (parameters and buffers).
c10::Dict<std::string, at::Tensor> StateDict(Vgg16& model) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& p : model->named_parameters()) dict.insert(p.key(), p.value().detach().cpu());
  for (const auto& b : model->named_buffers()) dict.insert(b.key(), b.value().detach().cpu());
  return dict;
}

// "crc32:<hex>" over tensors in name order: each name, then the tensor's
// bytes in logical (contiguous) order, so the memory format does not matter.
std::string WeightsChecksum(std::vector<std::pair<std::string, at::Tensor>> tensors) {
  std::sort(tensors.begin(), tensors.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  uLong crc = crc32(0L, Z_NULL, 0);
  for (const auto& [name, tensor] : tensors) {
    crc = crc32(crc, reinterpret_cast<const Bytef*>(name.data()), static_cast<uInt>(name.size()));
    const at::Tensor t = tensor.contiguous().cpu();
    const auto* bytes = static_cast<const Bytef*>(t.data_ptr());
    for (size_t done = 0, n = t.nbytes(); done < n;) {  // crc32 takes at most 4 GiB a call
      const size_t chunk = std::min<size_t>(n - done, 1u << 30);
      crc = crc32(crc, bytes + done, static_cast<uInt>(chunk));
      done += chunk;
    }
  }
  char hex[9];
  std::snprintf(hex, sizeof(hex), "%08lx", static_cast<unsigned long>(crc & 0xffffffffUL));
  return absl::StrCat("crc32:", hex);
}

// Makes a rename inside `path` durable.
absl::Status SyncDirectory(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return absl::InternalError(absl::StrCat("open ", path, ": ", std::strerror(errno)));
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  if (rc != 0) return absl::InternalError(absl::StrCat("fsync ", path, ": ", std::strerror(err)));
  return absl::OkStatus();
}

// A failed write's status: out of space (or over a file size limit) is
// RESOURCE_EXHAUSTED, the rest INTERNAL.
absl::Status WriteError(const std::string& what, int err) {
  const std::string message = absl::StrCat(what, ": ", std::strerror(err));
  if (err == ENOSPC || err == EDQUOT || err == EFBIG) return absl::ResourceExhaustedError(message);
  return absl::InternalError(message);
}

// A file stream buffer that never fails towards its writer: it remembers the
// first write error and drops the rest. LibTorch's archive writer reports a
// failed write by throwing from its destructor, which ends the process; with
// this buffer the archive always completes, and the caller checks error().
class CheckedFileBuf final : public std::streambuf {
 public:
  explicit CheckedFileBuf(int fd) : fd_(fd) {}
  int error() const { return error_; }

 protected:
  std::streamsize xsputn(const char* data, std::streamsize n) override {
    for (std::streamsize done = 0; error_ == 0 && done < n;) {
      const ssize_t w = ::write(fd_, data + done, static_cast<size_t>(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) {
        error_ = errno;
      } else {
        done += w;
      }
    }
    return n;
  }
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof())) {
      const char ch = traits_type::to_char_type(c);
      xsputn(&ch, 1);
    }
    return traits_type::not_eof(c);
  }

 private:
  const int fd_;
  int error_ = 0;
};

// Creates `path`, lets `write` fill it through a stream, fsyncs and closes
// it. A failed write (a full disk) is the returned status, never an
// exception from the stream.
absl::Status WriteArchive(const std::string& path, const std::function<absl::Status(std::ostream&)>& write) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return WriteError(absl::StrCat("create ", path), errno);
  CheckedFileBuf buffer(fd);
  std::ostream out(&buffer);
  absl::Status status = write(out);
  out.flush();
  if (status.ok() && buffer.error() != 0) status = WriteError(absl::StrCat("write ", path), buffer.error());
  if (status.ok() && ::fsync(fd) != 0) status = WriteError(absl::StrCat("fsync ", path), errno);
  if (::close(fd) != 0 && status.ok()) status = WriteError(absl::StrCat("close ", path), errno);
  return status;
}

absl::Status ReadArchive(const std::string& path, torch::serialize::InputArchive& archive,
                         const c10::Device& device) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return absl::NotFoundError(absl::StrCat("no checkpoint file at ", path));
  return TorchCall(
      absl::StrCat(path, ": not a readable catdog checkpoint (corrupt or truncated?)"),
      [&] { archive.load_from(path, device); }, absl::StatusCode::kInvalidArgument);
}

absl::StatusOr<ModelCard> ReadCard(torch::serialize::InputArchive& archive, const std::string& path) {
  c10::IValue value;
  if (!archive.try_read(kCardKey, value) || !value.isString()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no model card; not a catdog checkpoint"));
  }
  absl::StatusOr<ModelCard> card = ModelCardFromJson(value.toStringRef());
  if (!card.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", card.status().message()));
  if (card->format_version != ModelCard::kFormatVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat(path, ": checkpoint format version ", card->format_version,
                     " but this build reads version ", ModelCard::kFormatVersion));
  }
  return card;
}

// Copies the archive's state dict at `key` into `model`, requiring the same
// names and shapes in both directions. The card's checksum covers the
// served weights (kStateKey) only.
absl::Status CopyStateInto(torch::serialize::InputArchive& archive, Vgg16& model,
                           const ModelCard& card, const std::string& path, const char* key = kStateKey) {
  c10::IValue value;
  if (!archive.try_read(key, value) || !value.isGenericDict()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no state dict in checkpoint"));
  }
  const c10::impl::GenericDict dict = value.toGenericDict();
  if (std::string_view(key) == kStateKey && !card.weights_checksum.empty()) {
    std::vector<std::pair<std::string, at::Tensor>> stored;
    for (const auto& entry : dict) {
      if (entry.key().isString() && entry.value().isTensor()) {
        stored.emplace_back(entry.key().toStringRef(), entry.value().toTensor());
      }
    }
    const std::string computed = WeightsChecksum(std::move(stored));
    if (computed != card.weights_checksum) {
      return absl::DataLossError(absl::StrCat(path, ": weights damaged (checksum ", computed,
                                              ", the model card says ", card.weights_checksum, ")"));
    }
  }
  std::vector<std::pair<std::string, at::Tensor>> targets;
  for (const auto& p : model->named_parameters()) targets.emplace_back(p.key(), p.value());
  for (const auto& b : model->named_buffers()) targets.emplace_back(b.key(), b.value());
  if (dict.size() != targets.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": checkpoint holds ", dict.size(), " tensors but its model card's architecture has ",
        targets.size()));
  }
  return TorchCall(absl::StrCat(path, ": loading weights"), [&]() -> absl::Status {
    torch::NoGradGuard no_grad;
    for (auto& [name, target] : targets) {
      auto it = dict.find(name);
      if (it == dict.end() || !it->value().isTensor()) {
        return absl::InvalidArgumentError(
            absl::StrCat(path, ": weights do not match the model card: missing ", name));
      }
      const at::Tensor source = it->value().toTensor();
      if (source.sizes() != target.sizes()) {
        return absl::InvalidArgumentError(absl::StrCat(
            path, ": weights do not match the model card: ", name, " has shape [",
            absl::StrJoin(source.sizes(), ","), "], expected [", absl::StrJoin(target.sizes(), ","), "]"));
      }
      target.copy_(source);
    }
    return absl::OkStatus();
  }, absl::StatusCode::kInvalidArgument);
}

}  // namespace

absl::Status SaveCheckpoint(const std::string& path, const ModelCard& card, Vgg16& model,
                            torch::optim::Optimizer* optimizer, const TrainingState* training_state,
                            Vgg16* training_weights) {
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot create ", dir.string(), ": ", ec.message()));
  const std::string tmp = absl::StrCat(path, ".tmp.", ::getpid());
  absl::Status written = WriteArchive(tmp, [&](std::ostream& out) {
    return TorchCall(absl::StrCat("writing checkpoint ", path), [&] {
      const c10::Dict<std::string, at::Tensor> state = StateDict(model);
      std::vector<std::pair<std::string, at::Tensor>> tensors;
      for (const auto& entry : state) tensors.emplace_back(entry.key(), entry.value());
      ModelCard checked = card;
      checked.weights_checksum = WeightsChecksum(std::move(tensors));
      torch::serialize::OutputArchive archive;
      archive.write(kCardKey, c10::IValue(ModelCardToJson(checked)));
      archive.write(kStateKey, c10::IValue(state));
      if (optimizer != nullptr) {
        torch::serialize::OutputArchive optimizer_archive;
        optimizer->save(optimizer_archive);
        archive.write(kOptimizerKey, optimizer_archive);
      }
      if (training_weights != nullptr) archive.write(kTrainingWeightsKey, c10::IValue(StateDict(*training_weights)));
      if (training_state != nullptr) {
        archive.write(kTrainingStateKey, c10::IValue(TrainingStateToJson(*training_state)));
      }
      archive.save_to(out);
    });
  });
  if (written.ok() && std::rename(tmp.c_str(), path.c_str()) != 0) {
    written = absl::InternalError(absl::StrCat("rename to ", path, ": ", std::strerror(errno)));
  }
  if (!written.ok()) {
    fs::remove(tmp, ec);  // the previous checkpoint at `path` is untouched
    return written;
  }
  return SyncDirectory(dir.string());
}

absl::StatusOr<ModelCard> ReadModelCard(const std::string& path) {
  torch::serialize::InputArchive archive;
  CATDOG_RETURN_IF_ERROR(ReadArchive(path, archive, c10::Device(c10::kCPU)));
  return ReadCard(archive, path);
}

absl::StatusOr<LoadedCheckpoint> LoadCheckpoint(const std::string& path, const c10::Device& device) {
  torch::serialize::InputArchive archive;
  CATDOG_RETURN_IF_ERROR(ReadArchive(path, archive, c10::Device(c10::kCPU)));
  LoadedCheckpoint loaded;
  CATDOG_ASSIGN_OR_RETURN(loaded.card, ReadCard(archive, path));
  if (loaded.card.arch != "vgg16") {
    return absl::InvalidArgumentError(absl::StrCat(path, ": unknown architecture ", loaded.card.arch));
  }
  const VggOptions options{static_cast<int>(loaded.card.class_names.size()), loaded.card.width};
  if (absl::Status s = ValidateVggOptions(options); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": model card: ", s.message()));
  }
  CATDOG_RETURN_IF_ERROR(TorchCall("building model", [&] { loaded.model = Vgg16(options); }));
  CATDOG_RETURN_IF_ERROR(CopyStateInto(archive, loaded.model, loaded.card, path));
  CATDOG_RETURN_IF_ERROR(TorchCall(absl::StrCat("moving model to ", device.str()), [&] {
    loaded.model->to(device);
    loaded.model->eval();
  }));
  return loaded;
}

absl::Status LoadWeightsInto(const std::string& path, Vgg16& model) {
  torch::serialize::InputArchive archive;
  CATDOG_RETURN_IF_ERROR(ReadArchive(path, archive, c10::Device(c10::kCPU)));
  CATDOG_ASSIGN_OR_RETURN(const ModelCard card, ReadCard(archive, path));
  return CopyStateInto(archive, model, card, path);
}

absl::StatusOr<ResumePoint> ReadResumePoint(const std::string& path) {
  torch::serialize::InputArchive archive;
  CATDOG_RETURN_IF_ERROR(ReadArchive(path, archive, c10::Device(c10::kCPU)));
  ResumePoint point;
  CATDOG_ASSIGN_OR_RETURN(point.card, ReadCard(archive, path));
  c10::IValue value;
  torch::serialize::InputArchive optimizer_archive;
  if (!archive.try_read(kTrainingStateKey, value) || !value.isString() ||
      !archive.try_read(kOptimizerKey, optimizer_archive)) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": holds no training state to continue from (a best checkpoint, or written "
                           "by a build without resume)"));
  }
  absl::StatusOr<TrainingState> state = TrainingStateFromJson(value.toStringRef());
  if (!state.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", state.status().message()));
  point.state = *std::move(state);
  return point;
}

absl::Status LoadTrainingCheckpoint(const std::string& path, Vgg16& model,
                                    torch::optim::Optimizer& optimizer, const c10::Device& device,
                                    Vgg16* average) {
  torch::serialize::InputArchive archive;
  // Straight onto the training device: Adam's moments must sit with the
  // parameters they belong to.
  CATDOG_RETURN_IF_ERROR(ReadArchive(path, archive, device));
  CATDOG_ASSIGN_OR_RETURN(const ModelCard card, ReadCard(archive, path));
  c10::IValue ignored;
  const bool averaged = archive.try_read(kTrainingWeightsKey, ignored);
  // A run that averaged gets both back; one that starts averaging on resume
  // starts its average at the weights; one that stops drops the average.
  CATDOG_RETURN_IF_ERROR(CopyStateInto(archive, model, card, path, averaged ? kTrainingWeightsKey : kStateKey));
  if (average != nullptr) CATDOG_RETURN_IF_ERROR(CopyStateInto(archive, *average, card, path));
  torch::serialize::InputArchive optimizer_archive;
  if (!archive.try_read(kOptimizerKey, optimizer_archive)) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": no optimizer state in checkpoint"));
  }
  return TorchCall(
      absl::StrCat(path, ": loading optimizer state"), [&] { optimizer.load(optimizer_archive); },
      absl::StatusCode::kInvalidArgument);
}

}  // namespace catdog::common
