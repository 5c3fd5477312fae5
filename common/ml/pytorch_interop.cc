#include "common/ml/pytorch_interop.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include <caffe2/serialize/inline_container.h>
#include <caffe2/serialize/read_adapter_interface.h>
#include <torch/torch.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/data/status_macros.h"
#include "common/ml/checkpoint.h"
#include "common/ml/torch_status.h"

namespace catdog::common {
namespace {

constexpr const char* kCardRecord = "catdog_model_card.json";
constexpr const char* kPickleRecord = "data.pkl";

// ---------------------------------------------------------------------------
// Writing: the pickle Python's torch.save emits for an OrderedDict of tensors.

struct StorageType {
  at::ScalarType dtype;
  const char* name;  // torch.<name> in the pickle
};
constexpr StorageType kStorageTypes[] = {
    {at::kFloat, "FloatStorage"},   {at::kDouble, "DoubleStorage"}, {at::kHalf, "HalfStorage"},
    {at::kBFloat16, "BFloat16Storage"}, {at::kLong, "LongStorage"}, {at::kInt, "IntStorage"},
    {at::kShort, "ShortStorage"},   {at::kChar, "CharStorage"},     {at::kByte, "ByteStorage"},
    {at::kBool, "BoolStorage"},
};

class PickleWriter {
 public:
  PickleWriter() { out_ += "\x80\x02"; }  // PROTO 2

  void Global(absl::string_view module, absl::string_view name) {
    absl::StrAppend(&out_, "c", module, "\n", name, "\n");
  }
  void Str(absl::string_view s) {
    out_ += 'X';
    AppendLe(static_cast<uint32_t>(s.size()), 4);
    out_.append(s.data(), s.size());
  }
  void Int(int64_t v) {
    if (v >= INT32_MIN && v <= INT32_MAX) {
      out_ += 'J';
      AppendLe(static_cast<uint64_t>(static_cast<uint32_t>(static_cast<int32_t>(v))), 4);
    } else {
      out_ += "\x8a\x08";  // LONG1, 8 bytes two's complement
      AppendLe(static_cast<uint64_t>(v), 8);
    }
  }
  void IntTuple(c10::IntArrayRef values) {
    Mark();
    for (int64_t v : values) Int(v);
    Op('t');
  }
  void Mark() { Op('('); }
  void Op(char op) { out_ += op; }
  std::string Finish() {
    Op('.');
    return std::move(out_);
  }

 private:
  void AppendLe(uint64_t v, int bytes) {
    for (int i = 0; i < bytes; ++i) out_ += static_cast<char>((v >> (8 * i)) & 0xff);
  }
  std::string out_;
};

// The state dict in PyTorch's order: module by module, parameters then
// buffers.
std::vector<std::pair<std::string, at::Tensor>> OrderedState(Vgg16& model) {
  std::vector<std::pair<std::string, at::Tensor>> state;
  for (const auto& m : model->named_modules()) {
    const std::string prefix = m.key().empty() ? "" : m.key() + ".";
    for (const auto& p : m.value()->named_parameters(/*recurse=*/false)) {
      state.emplace_back(prefix + p.key(), p.value().detach().cpu().contiguous());
    }
    for (const auto& b : m.value()->named_buffers(/*recurse=*/false)) {
      state.emplace_back(prefix + b.key(), b.value().detach().cpu().contiguous());
    }
  }
  return state;
}

// ---------------------------------------------------------------------------
// Reading: a pickle machine for data only.

struct PyValue;
using PyPtr = std::shared_ptr<const PyValue>;

struct TensorRef {
  std::string storage_key;
  at::ScalarType dtype;
  int64_t storage_numel = 0;
  int64_t offset = 0;
  std::vector<int64_t> sizes, strides;
};

struct PyValue {
  enum class Kind { kNone, kBool, kInt, kFloat, kStr, kTuple, kList, kDict, kGlobal, kStorage, kTensor };
  Kind kind = Kind::kNone;
  int64_t i = 0;
  double f = 0;
  std::string s;  // kStr; kGlobal: "module.name"
  std::vector<PyPtr> items;                       // kTuple, kList
  std::vector<std::pair<PyPtr, PyPtr>> entries;  // kDict, in order
  TensorRef tensor;                               // kStorage (no sizes), kTensor
  int depth = 1;                                  // nesting, bounded
};

class Unpickler {
 public:
  explicit Unpickler(absl::string_view data) : data_(data) {}

  absl::StatusOr<PyPtr> Run() {
    while (true) {
      if (pos_ >= data_.size()) return Error("ends before its STOP opcode");
      const uint8_t op = static_cast<uint8_t>(data_[pos_++]);
      switch (op) {
        case 0x80: CATDOG_RETURN_IF_ERROR(Skip(1)); break;  // PROTO
        case 0x95: CATDOG_RETURN_IF_ERROR(Skip(8)); break;  // FRAME
        case '.': {
          if (stack_.size() != 1 || !marks_.empty()) return Error("unbalanced stack at STOP");
          return stack_.back();
        }
        case '(': marks_.push_back(stack_.size()); break;
        case 'N': Push(Make(PyValue::Kind::kNone)); break;
        case 0x88: case 0x89: {
          auto v = Make(PyValue::Kind::kBool);
          v->i = op == 0x88;
          Push(v);
          break;
        }
        case 'K': case 'M': case 'J': {
          const int n = op == 'K' ? 1 : op == 'M' ? 2 : 4;
          CATDOG_ASSIGN_OR_RETURN(uint64_t raw, ReadLe(n));
          auto v = Make(PyValue::Kind::kInt);
          v->i = op == 'J' ? static_cast<int32_t>(raw) : static_cast<int64_t>(raw);
          Push(v);
          break;
        }
        case 0x8a: {  // LONG1
          CATDOG_ASSIGN_OR_RETURN(uint64_t n, ReadLe(1));
          if (n > 8) return Error("integer wider than 64 bits");
          CATDOG_ASSIGN_OR_RETURN(uint64_t raw, ReadLe(static_cast<int>(n)));
          if (n > 0 && n < 8 && (raw >> (8 * n - 1)) & 1) raw |= ~uint64_t{0} << (8 * n);  // sign
          auto v = Make(PyValue::Kind::kInt);
          v->i = static_cast<int64_t>(raw);
          Push(v);
          break;
        }
        case 'G': {  // BINFLOAT, big-endian
          if (data_.size() - pos_ < 8) return Error("truncated float");
          uint64_t raw = 0;
          for (int k = 0; k < 8; ++k) raw = (raw << 8) | static_cast<uint8_t>(data_[pos_ + k]);
          pos_ += 8;
          auto v = Make(PyValue::Kind::kFloat);
          std::memcpy(&v->f, &raw, sizeof(raw));
          Push(v);
          break;
        }
        case 'X': case 0x8c: {  // BINUNICODE, SHORT_BINUNICODE
          CATDOG_ASSIGN_OR_RETURN(uint64_t n, ReadLe(op == 'X' ? 4 : 1));
          if (data_.size() - pos_ < n) return Error("truncated string");
          auto v = Make(PyValue::Kind::kStr);
          v->s = std::string(data_.substr(pos_, n));
          pos_ += n;
          Push(v);
          break;
        }
        case 'c': {  // GLOBAL module\nname\n
          CATDOG_ASSIGN_OR_RETURN(std::string module, ReadLine());
          CATDOG_ASSIGN_OR_RETURN(std::string name, ReadLine());
          CATDOG_RETURN_IF_ERROR(PushGlobal(module, name));
          break;
        }
        case 0x93: {  // STACK_GLOBAL
          CATDOG_ASSIGN_OR_RETURN(PyPtr name, Pop());
          CATDOG_ASSIGN_OR_RETURN(PyPtr module, Pop());
          if (module->kind != PyValue::Kind::kStr || name->kind != PyValue::Kind::kStr) {
            return Error("STACK_GLOBAL of a non-string");
          }
          CATDOG_RETURN_IF_ERROR(PushGlobal(module->s, name->s));
          break;
        }
        case ')': Push(Make(PyValue::Kind::kTuple)); break;
        case ']': Push(Make(PyValue::Kind::kList)); break;
        case '}': Push(Make(PyValue::Kind::kDict)); break;
        case 't': case 0x85: case 0x86: case 0x87: {
          std::vector<PyPtr> items;
          if (op == 't') {
            CATDOG_ASSIGN_OR_RETURN(items, PopMark());
          } else {
            const size_t n = op - 0x84;
            if (stack_.size() < n + Floor()) return Error("tuple of missing values");
            items.assign(stack_.end() - static_cast<ptrdiff_t>(n), stack_.end());
            stack_.resize(stack_.size() - n);
          }
          CATDOG_ASSIGN_OR_RETURN(PyPtr tuple, Container(PyValue::Kind::kTuple, std::move(items)));
          Push(tuple);
          break;
        }
        case 'a': case 'e': {  // APPEND, APPENDS
          std::vector<PyPtr> items;
          if (op == 'e') {
            CATDOG_ASSIGN_OR_RETURN(items, PopMark());
          } else {
            CATDOG_ASSIGN_OR_RETURN(PyPtr item, Pop());
            items.push_back(item);
          }
          CATDOG_ASSIGN_OR_RETURN(PyPtr list, Pop());
          if (list->kind != PyValue::Kind::kList) return Error("append to a non-list");
          std::vector<PyPtr> all = list->items;
          all.insert(all.end(), items.begin(), items.end());
          CATDOG_ASSIGN_OR_RETURN(PyPtr grown, Container(PyValue::Kind::kList, std::move(all)));
          Push(grown);
          break;
        }
        case 's': case 'u': {  // SETITEM, SETITEMS
          std::vector<PyPtr> kv;
          if (op == 'u') {
            CATDOG_ASSIGN_OR_RETURN(kv, PopMark());
          } else {
            CATDOG_ASSIGN_OR_RETURN(PyPtr v, Pop());
            CATDOG_ASSIGN_OR_RETURN(PyPtr k, Pop());
            kv = {k, v};
          }
          if (kv.size() % 2 != 0) return Error("odd number of dict items");
          CATDOG_ASSIGN_OR_RETURN(PyPtr dict, Pop());
          if (dict->kind != PyValue::Kind::kDict) return Error("setitem on a non-dict");
          auto grown = std::make_shared<PyValue>(*dict);
          for (size_t k = 0; k < kv.size(); k += 2) {
            grown->entries.emplace_back(kv[k], kv[k + 1]);
            grown->depth = std::max({grown->depth, kv[k]->depth + 1, kv[k + 1]->depth + 1});
          }
          CATDOG_RETURN_IF_ERROR(CheckDepth(*grown));
          Push(grown);
          break;
        }
        case 'q': case 'r': case 0x94: {  // BINPUT, LONG_BINPUT, MEMOIZE
          uint64_t key = memo_.size();
          if (op != 0x94) {
            CATDOG_ASSIGN_OR_RETURN(key, ReadLe(op == 'q' ? 1 : 4));
          }
          if (stack_.size() <= Floor()) return Error("memo of an empty stack");
          memo_[key] = stack_.back();
          break;
        }
        case 'h': case 'j': {  // BINGET, LONG_BINGET
          CATDOG_ASSIGN_OR_RETURN(uint64_t key, ReadLe(op == 'h' ? 1 : 4));
          auto it = memo_.find(key);
          if (it == memo_.end()) return Error("memo lookup of an unknown key");
          Push(it->second);
          break;
        }
        case 'Q': {  // BINPERSID: ('storage', torch.XStorage, key, location, numel)
          CATDOG_ASSIGN_OR_RETURN(PyPtr pid, Pop());
          CATDOG_ASSIGN_OR_RETURN(PyPtr storage, Storage(*pid));
          Push(storage);
          break;
        }
        case 'R': {  // REDUCE
          CATDOG_ASSIGN_OR_RETURN(PyPtr args, Pop());
          CATDOG_ASSIGN_OR_RETURN(PyPtr callable, Pop());
          CATDOG_ASSIGN_OR_RETURN(PyPtr result, Reduce(*callable, *args));
          Push(result);
          break;
        }
        case 'b': {  // BUILD: an OrderedDict's __dict__ (its _metadata), dropped
          CATDOG_ASSIGN_OR_RETURN(PyPtr state, Pop());
          if (stack_.size() <= Floor() || stack_.back()->kind != PyValue::Kind::kDict) {
            return Error("BUILD on something other than a dict");
          }
          break;
        }
        default:
          return Error(absl::StrCat("pickle opcode 0x", absl::Hex(op), " is not supported"));
      }
      if (++steps_ > kMaxSteps) return Error("too many objects");
    }
  }

 private:
  static constexpr size_t kMaxSteps = 10'000'000;
  static constexpr int kMaxDepth = 64;

  absl::Status Error(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("state-dict pickle at byte ", pos_, ": ", what));
  }
  static std::shared_ptr<PyValue> Make(PyValue::Kind kind) {
    auto v = std::make_shared<PyValue>();
    v->kind = kind;
    return v;
  }
  void Push(PyPtr v) { stack_.push_back(std::move(v)); }
  size_t Floor() const { return marks_.empty() ? 0 : marks_.back(); }
  absl::StatusOr<PyPtr> Pop() {
    if (stack_.size() <= Floor()) return Error("pop from an empty stack");
    PyPtr v = std::move(stack_.back());
    stack_.pop_back();
    return v;
  }
  absl::StatusOr<std::vector<PyPtr>> PopMark() {
    if (marks_.empty()) return Error("no MARK");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<PyPtr> items(stack_.begin() + static_cast<ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }
  absl::Status CheckDepth(const PyValue& v) const {
    return v.depth > kMaxDepth ? Error("nested too deeply") : absl::OkStatus();
  }
  absl::StatusOr<PyPtr> Container(PyValue::Kind kind, std::vector<PyPtr> items) {
    auto v = Make(kind);
    for (const PyPtr& item : items) v->depth = std::max(v->depth, item->depth + 1);
    v->items = std::move(items);
    CATDOG_RETURN_IF_ERROR(CheckDepth(*v));
    return PyPtr(v);
  }
  absl::Status Skip(size_t n) {
    if (data_.size() - pos_ < n) return Error("truncated");
    pos_ += n;
    return absl::OkStatus();
  }
  absl::StatusOr<uint64_t> ReadLe(int n) {
    if (data_.size() - pos_ < static_cast<size_t>(n)) return Error("truncated");
    uint64_t v = 0;
    for (int k = n - 1; k >= 0; --k) v = (v << 8) | static_cast<uint8_t>(data_[pos_ + k]);
    pos_ += n;
    return v;
  }
  absl::StatusOr<std::string> ReadLine() {
    const size_t end = data_.find('\n', pos_);
    if (end == absl::string_view::npos || end - pos_ > 256) return Error("bad GLOBAL");
    std::string line(data_.substr(pos_, end - pos_));
    pos_ = end + 1;
    return line;
  }

  // Only names that build data; anything else (a class, a function) is refused.
  absl::Status PushGlobal(const std::string& module, const std::string& name) {
    const std::string full = absl::StrCat(module, ".", name);
    bool known = full == "collections.OrderedDict" || full == "torch._utils._rebuild_tensor_v2" ||
                 full == "torch._utils._rebuild_parameter";
    for (const StorageType& t : kStorageTypes) known = known || full == absl::StrCat("torch.", t.name);
    if (!known) return Error(absl::StrCat("refusing the global ", full, " (only tensors and containers are read)"));
    auto v = Make(PyValue::Kind::kGlobal);
    v->s = full;
    Push(v);
    return absl::OkStatus();
  }

  absl::StatusOr<PyPtr> Storage(const PyValue& pid) {
    using K = PyValue::Kind;
    if (pid.kind != K::kTuple || pid.items.size() != 5 || pid.items[0]->kind != K::kStr ||
        pid.items[0]->s != "storage" || pid.items[1]->kind != K::kGlobal || pid.items[2]->kind != K::kStr ||
        pid.items[4]->kind != K::kInt || pid.items[4]->i < 0) {
      return Error("persistent id is not a tensor storage");
    }
    auto v = Make(K::kStorage);
    const StorageType* type = nullptr;
    for (const StorageType& t : kStorageTypes) {
      if (pid.items[1]->s == absl::StrCat("torch.", t.name)) type = &t;
    }
    if (type == nullptr) return Error(absl::StrCat(pid.items[1]->s, " is not a storage type"));
    v->tensor.dtype = type->dtype;
    v->tensor.storage_key = pid.items[2]->s;
    v->tensor.storage_numel = pid.items[4]->i;
    return PyPtr(v);
  }

  static absl::StatusOr<std::vector<int64_t>> Ints(const PyValue& tuple) {
    if (tuple.kind != PyValue::Kind::kTuple) return absl::InvalidArgumentError("tensor shape is not a tuple");
    std::vector<int64_t> out;
    for (const PyPtr& item : tuple.items) {
      if (item->kind != PyValue::Kind::kInt) return absl::InvalidArgumentError("tensor shape holds a non-integer");
      out.push_back(item->i);
    }
    return out;
  }

  absl::StatusOr<PyPtr> Reduce(const PyValue& callable, const PyValue& args) {
    using K = PyValue::Kind;
    if (callable.kind != K::kGlobal || args.kind != K::kTuple) return Error("REDUCE of a non-callable");
    if (callable.s == "collections.OrderedDict") {
      if (!args.items.empty()) return Error("OrderedDict with arguments");
      return PyPtr(Make(K::kDict));
    }
    if (callable.s == "torch._utils._rebuild_parameter") {  // (data, requires_grad, hooks)
      if (args.items.empty() || args.items[0]->kind != K::kTensor) return Error("bad parameter");
      return args.items[0];
    }
    if (callable.s == "torch._utils._rebuild_tensor_v2") {  // (storage, offset, size, stride, ...)
      if (args.items.size() < 4 || args.items[0]->kind != K::kStorage || args.items[1]->kind != K::kInt) {
        return Error("bad tensor");
      }
      auto v = Make(K::kTensor);
      v->tensor = args.items[0]->tensor;
      v->tensor.offset = args.items[1]->i;
      absl::StatusOr<std::vector<int64_t>> sizes = Ints(*args.items[2]);
      absl::StatusOr<std::vector<int64_t>> strides = Ints(*args.items[3]);
      if (!sizes.ok() || !strides.ok() || sizes->size() != strides->size()) return Error("bad tensor shape");
      v->tensor.sizes = *std::move(sizes);
      v->tensor.strides = *std::move(strides);
      return PyPtr(v);
    }
    return Error(absl::StrCat("cannot call ", callable.s));
  }

  absl::string_view data_;
  size_t pos_ = 0;
  size_t steps_ = 0;
  std::vector<PyPtr> stack_;
  std::vector<size_t> marks_;
  std::map<uint64_t, PyPtr> memo_;
};

// miniz reads through this; unlike LibTorch's MemoryReadAdapter it never
// reads past the end.
class BoundedReadAdapter final : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit BoundedReadAdapter(absl::string_view data) : data_(data) {}
  size_t size() const override { return data_.size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= data_.size()) return 0;
    n = std::min<size_t>(n, data_.size() - pos);
    std::memcpy(buf, data_.data() + pos, n);
    return n;
  }

 private:
  absl::string_view data_;
};

uint32_t Le32(absl::string_view d, size_t at) {
  uint32_t v = 0;
  for (int k = 3; k >= 0; --k) v = (v << 8) | static_cast<uint8_t>(d[at + k]);
  return v;
}
uint16_t Le16(absl::string_view d, size_t at) {
  return static_cast<uint16_t>(static_cast<uint8_t>(d[at]) | (static_cast<uint8_t>(d[at + 1]) << 8));
}

// torch.save stores every record uncompressed. Requiring that keeps a record's
// size within the file's, so no entry can inflate into more memory than the
// upload took (a zip bomb).
absl::Status CheckStoredOnly(absl::string_view d) {
  const absl::Status bad = absl::InvalidArgumentError(
      "not a PyTorch state-dict file (torch.save's zip format); files from torch.save with "
      "_use_new_zipfile_serialization=False are not read");
  constexpr size_t kEocd = 22;
  if (d.size() < kEocd) return bad;
  size_t eocd = std::string::npos;
  for (size_t at = d.size() - kEocd + 1; at-- > 0 && d.size() - at <= kEocd + 65535;) {
    if (Le32(d, at) == 0x06054b50) {
      eocd = at;
      break;
    }
  }
  if (eocd == std::string::npos) return bad;
  const uint16_t entries = Le16(d, eocd + 10);
  const uint32_t cd_offset = Le32(d, eocd + 16);
  size_t at = cd_offset;
  for (uint16_t e = 0; e < entries; ++e) {
    if (at > d.size() || d.size() - at < 46 || Le32(d, at) != 0x02014b50) return bad;
    const uint16_t method = Le16(d, at + 10);
    const uint32_t compressed = Le32(d, at + 20), size = Le32(d, at + 24);
    if (method != 0 || compressed != size || size > d.size()) {
      return absl::InvalidArgumentError("state-dict file with a compressed or oversized record; torch.save "
                                        "writes records uncompressed");
    }
    at += 46 + Le16(d, at + 28) + Le16(d, at + 30) + Le16(d, at + 32);
  }
  return absl::OkStatus();
}

struct ReadStateDict {
  std::vector<std::pair<std::string, at::Tensor>> tensors;  // file order
  std::optional<ModelCard> card;                             // a catdog export's
};

const PyValue* FindKey(const PyValue& dict, absl::string_view key) {
  for (const auto& [k, v] : dict.entries) {
    if (k->kind == PyValue::Kind::kStr && k->s == key) return v.get();
  }
  return nullptr;
}

bool IsTensorDict(const PyValue& v) {
  if (v.kind != PyValue::Kind::kDict || v.entries.empty()) return false;
  for (const auto& [k, value] : v.entries) {
    if (k->kind != PyValue::Kind::kStr || value->kind != PyValue::Kind::kTensor) return false;
  }
  return true;
}

absl::StatusOr<at::Tensor> Materialize(const TensorRef& ref, caffe2::serialize::PyTorchStreamReader& reader,
                                       std::map<std::string, std::pair<at::DataPtr, size_t>>& records) {
  auto it = records.find(ref.storage_key);
  if (it == records.end()) {
    const std::string name = absl::StrCat("data/", ref.storage_key);
    if (!reader.hasRecord(name)) return absl::InvalidArgumentError(absl::StrCat("no record ", name));
    auto [ptr, size] = reader.getRecord(name);
    it = records.emplace(ref.storage_key, std::make_pair(std::move(ptr), size)).first;
  }
  const size_t item = c10::elementSize(ref.dtype);
  const size_t bytes = it->second.second;
  if (ref.storage_numel < 0 || static_cast<uint64_t>(ref.storage_numel) > bytes / item) {
    return absl::InvalidArgumentError(absl::StrCat("storage ", ref.storage_key, " is shorter than it claims"));
  }
  // Every element the view reaches must lie inside the storage, and the view
  // may hold no more elements than the storage (a state dict never expands
  // a tensor; a stride-0 view could otherwise ask for any amount of memory).
  if (ref.offset < 0 || ref.sizes.size() > 8) {
    return absl::InvalidArgumentError("tensor with a negative offset or more than 8 dimensions");
  }
  int64_t last = ref.offset, numel = 1;
  for (size_t d = 0; d < ref.sizes.size(); ++d) {
    int64_t reach = 0;
    if (ref.sizes[d] < 0 || ref.strides[d] < 0 || __builtin_mul_overflow(numel, ref.sizes[d], &numel) ||
        (ref.sizes[d] > 0 && (__builtin_mul_overflow(ref.sizes[d] - 1, ref.strides[d], &reach) ||
                              __builtin_add_overflow(last, reach, &last)))) {
      return absl::InvalidArgumentError("tensor with a negative or huge size or stride");
    }
  }
  if (numel > 0 && (last >= ref.storage_numel || numel > ref.storage_numel)) {
    return absl::InvalidArgumentError(absl::StrCat("tensor reaches past the end of storage ", ref.storage_key));
  }
  const at::Tensor storage = torch::from_blob(it->second.first.get(), {ref.storage_numel},
                                              torch::TensorOptions().dtype(ref.dtype));
  return storage.as_strided(ref.sizes, ref.strides, ref.offset).clone(at::MemoryFormat::Contiguous);
}

absl::StatusOr<ReadStateDict> ReadStateDictFile(absl::string_view bytes) {
  CATDOG_RETURN_IF_ERROR(CheckStoredOnly(bytes));
  return TorchCall("reading the state-dict file", [&]() -> absl::StatusOr<ReadStateDict> {
    caffe2::serialize::PyTorchStreamReader reader(std::make_shared<BoundedReadAdapter>(bytes));
    if (reader.hasRecord("byteorder")) {
      auto [ptr, size] = reader.getRecord("byteorder");
      const std::string order(static_cast<const char*>(ptr.get()), size);
      if (order != "little") {
        return absl::InvalidArgumentError(absl::StrCat("state-dict file written in ", order, "-endian byte order"));
      }
    }
    if (!reader.hasRecord(kPickleRecord)) return absl::InvalidArgumentError("zip archive without data.pkl");
    auto [pickle_ptr, pickle_size] = reader.getRecord(kPickleRecord);
    Unpickler unpickler(absl::string_view(static_cast<const char*>(pickle_ptr.get()), pickle_size));
    CATDOG_ASSIGN_OR_RETURN(PyPtr root, unpickler.Run());

    const PyValue* state = root.get();
    if (!IsTensorDict(*state) && state->kind == PyValue::Kind::kDict) {
      for (const char* key : {"state_dict", "model_state_dict", "model"}) {
        const PyValue* inner = FindKey(*state, key);
        if (inner != nullptr && IsTensorDict(*inner)) {
          state = inner;
          break;
        }
      }
    }
    if (!IsTensorDict(*state)) {
      return absl::InvalidArgumentError(
          "the file holds no state dict (a dict of tensors, or one under \"state_dict\", "
          "\"model_state_dict\" or \"model\"); save model.state_dict(), not the model");
    }
    const bool data_parallel = std::all_of(state->entries.begin(), state->entries.end(), [](const auto& e) {
      return absl::StartsWith(e.first->s, "module.");
    });
    ReadStateDict out;
    std::map<std::string, std::pair<at::DataPtr, size_t>> records;
    for (const auto& [key, value] : state->entries) {
      CATDOG_ASSIGN_OR_RETURN(at::Tensor tensor, Materialize(value->tensor, reader, records));
      out.tensors.emplace_back(data_parallel ? key->s.substr(7) : key->s, std::move(tensor));
    }
    if (reader.hasRecord(kCardRecord)) {
      auto [ptr, size] = reader.getRecord(kCardRecord);
      absl::StatusOr<ModelCard> card = ModelCardFromJson(std::string(static_cast<const char*>(ptr.get()), size));
      if (card.ok()) out.card = *std::move(card);
    }
    return out;
  }, absl::StatusCode::kInvalidArgument);
}

const at::Tensor* Find(const std::vector<std::pair<std::string, at::Tensor>>& tensors, absl::string_view name) {
  for (const auto& [n, t] : tensors) {
    if (n == name) return &t;
  }
  return nullptr;
}

std::string Shape(const at::Tensor& t) { return absl::StrCat("[", absl::StrJoin(t.sizes(), ","), "]"); }

}  // namespace

absl::StatusOr<std::string> ExportStateDict(const std::string& checkpoint_path) {
  CATDOG_ASSIGN_OR_RETURN(LoadedCheckpoint loaded, LoadCheckpoint(checkpoint_path, c10::Device(c10::kCPU)));
  return TorchCall("exporting the state dict", [&]() -> absl::StatusOr<std::string> {
    const std::vector<std::pair<std::string, at::Tensor>> state = OrderedState(loaded.model);
    PickleWriter pickle;
    pickle.Global("collections", "OrderedDict");
    pickle.Op(')');
    pickle.Op('R');
    pickle.Mark();
    for (size_t k = 0; k < state.size(); ++k) {
      const at::Tensor& t = state[k].second;
      const char* storage_type = nullptr;
      for (const StorageType& type : kStorageTypes) {
        if (type.dtype == t.scalar_type()) storage_type = type.name;
      }
      if (storage_type == nullptr) {
        return absl::InternalError(absl::StrCat(state[k].first, " has an unexportable dtype"));
      }
      pickle.Str(state[k].first);
      pickle.Global("torch._utils", "_rebuild_tensor_v2");
      pickle.Mark();                   // the arguments
      pickle.Mark();                   // the persistent id
      pickle.Str("storage");
      pickle.Global("torch", storage_type);
      pickle.Str(std::to_string(k));
      pickle.Str("cpu");
      pickle.Int(t.numel());
      pickle.Op('t');
      pickle.Op('Q');
      pickle.Int(0);
      pickle.IntTuple(t.sizes());
      pickle.IntTuple(t.strides());
      pickle.Op('\x89');               // requires_grad=False
      pickle.Global("collections", "OrderedDict");
      pickle.Op(')');
      pickle.Op('R');                  // backward hooks
      pickle.Op('t');
      pickle.Op('R');
    }
    pickle.Op('u');
    const std::string data = pickle.Finish();

    std::string out;
    {
      caffe2::serialize::PyTorchStreamWriter writer([&out](const void* buf, size_t n) {
        out.append(static_cast<const char*>(buf), n);
        return n;
      });
      writer.writeRecord(kPickleRecord, data.data(), data.size());
      writer.writeRecord("byteorder", "little", 6);
      for (size_t k = 0; k < state.size(); ++k) {
        const at::Tensor& t = state[k].second;
        writer.writeRecord(absl::StrCat("data/", k), t.data_ptr(), t.nbytes());
      }
      const std::string card = ModelCardToJson(loaded.card);
      writer.writeRecord(kCardRecord, card.data(), card.size());
      writer.writeEndOfFile();
    }
    return out;
  });
}

absl::StatusOr<ModelCard> ImportStateDict(absl::string_view bytes, const ImportOptions& options,
                                          const std::string& checkpoint_path) {
  CATDOG_ASSIGN_OR_RETURN(ReadStateDict file, ReadStateDictFile(bytes));

  ModelCard card;
  card.kind = "imported";
  card.class_names = options.class_names;
  if (card.class_names.empty()) {
    if (!file.card.has_value()) {
      return absl::InvalidArgumentError("the file does not name its classes; give them (--classes cat,dog)");
    }
    card.class_names = file.card->class_names;
  }
  if (file.card.has_value()) card.preprocessing = file.card->preprocessing;
  if (options.image_size > 0) card.preprocessing.image_size = options.image_size;
  if (options.normalize.has_value()) card.preprocessing.normalize = *options.normalize;
  if (card.preprocessing.image_size < 32 || card.preprocessing.image_size > 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat("image size ", card.preprocessing.image_size, " is outside 32..1024"));
  }

  // The architecture from the shapes: the last block's channels give the width.
  const at::Tensor* head = Find(file.tensors, "classifier.3.weight");
  const at::Tensor* pooled = Find(file.tensors, "classifier.0.weight");
  if (head == nullptr || pooled == nullptr || head->dim() != 2 || pooled->dim() != 2) {
    return absl::InvalidArgumentError(
        "not the reference VGG16's state dict: classifier.0.weight / classifier.3.weight missing");
  }
  if (head->size(0) != static_cast<int64_t>(card.class_names.size())) {
    return absl::InvalidArgumentError(absl::StrCat("the model has ", head->size(0), " outputs but ",
                                                   card.class_names.size(), " class names were given"));
  }
  const VggOptions vgg{static_cast<int>(card.class_names.size()), static_cast<double>(pooled->size(1)) / 512.0};
  CATDOG_RETURN_IF_ERROR(ValidateVggOptions(vgg));
  card.width = vgg.width;

  CATDOG_ASSIGN_OR_RETURN(Vgg16 model, TorchCall("building the model", [&] { return Vgg16(vgg); }));
  std::vector<std::string> missing, mismatched;
  CATDOG_RETURN_IF_ERROR(TorchCall("copying the weights", [&] {
    torch::NoGradGuard no_grad;
    auto copy = [&](const std::string& name, at::Tensor& target) {
      const at::Tensor* source = Find(file.tensors, name);
      if (source == nullptr) {
        missing.push_back(name);
      } else if (source->sizes() != target.sizes() || !at::can_cast(source->scalar_type(), target.scalar_type())) {
        mismatched.push_back(absl::StrCat(name, " ", Shape(*source), " (expected ", Shape(target), ")"));
      } else {
        target.copy_(*source);
      }
    };
    for (auto& p : model->named_parameters()) copy(p.key(), p.value());
    for (auto& b : model->named_buffers()) copy(b.key(), b.value());
  }));
  std::vector<std::string> unexpected;
  for (const auto& [name, t] : file.tensors) {
    if (model->named_parameters().find(name) == nullptr && model->named_buffers().find(name) == nullptr) {
      unexpected.push_back(name);
    }
  }
  if (!missing.empty() || !mismatched.empty() || !unexpected.empty()) {
    auto list = [](const std::vector<std::string>& v) {
      const size_t shown = std::min<size_t>(v.size(), 5);
      return absl::StrCat(absl::StrJoin(v.begin(), v.begin() + static_cast<ptrdiff_t>(shown), ", "),
                          v.size() > shown ? absl::StrCat(" and ", v.size() - shown, " more") : "");
    };
    std::vector<std::string> parts;
    if (!missing.empty()) parts.push_back(absl::StrCat("missing ", list(missing)));
    if (!unexpected.empty()) parts.push_back(absl::StrCat("unexpected ", list(unexpected)));
    if (!mismatched.empty()) parts.push_back(absl::StrCat("shape or type differs: ", list(mismatched)));
    return absl::InvalidArgumentError(absl::StrCat("the state dict does not fit the reference VGG16 of width ",
                                                   vgg.width, ": ", absl::StrJoin(parts, "; ")));
  }
  model->eval();
  card.parameter_count = CountParameters(*model);
  card.created_at = absl::FormatTime(absl::RFC3339_sec, absl::Now(), absl::UTCTimeZone());
  card.train_config_json = "";
  if (file.card.has_value()) card.metrics = file.card->metrics;
  CATDOG_RETURN_IF_ERROR(SaveCheckpoint(checkpoint_path, card, model, nullptr));
  return card;
}

}  // namespace catdog::common
