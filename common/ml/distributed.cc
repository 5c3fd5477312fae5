#include "common/ml/distributed.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <exception>

#include <torch/torch.h>

#if CATDOG_HAVE_GLOO
#include <torch/csrc/distributed/c10d/HashStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace catdog::common {
namespace {

// An integer variable, or `fallback` when unset.
absl::StatusOr<int> IntFromEnvironment(const char* name, std::optional<int> fallback) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') {
    if (fallback) return *fallback;
    return absl::InvalidArgumentError(absl::StrCat(name, " is not set (WORLD_SIZE is)"));
  }
  int value = 0;
  if (!absl::SimpleAtoi(text, &value)) return absl::InvalidArgumentError(absl::StrCat(name, "='", text, "' is not a number"));
  return value;
}

}  // namespace

absl::StatusOr<std::optional<WorldInfo>> WorldFromEnvironment() {
  const char* size = std::getenv("WORLD_SIZE");
  if (size == nullptr || *size == '\0') return std::nullopt;
  WorldInfo w;
  auto world = IntFromEnvironment("WORLD_SIZE", std::nullopt);
  if (!world.ok()) return world.status();
  if (*world < 1) return absl::InvalidArgumentError(absl::StrCat("WORLD_SIZE=", *world, " must be >= 1"));
  if (*world == 1) return std::nullopt;
  w.world_size = *world;
  auto rank = IntFromEnvironment("RANK", std::nullopt);
  if (!rank.ok()) return rank.status();
  if (*rank < 0 || *rank >= w.world_size) {
    return absl::InvalidArgumentError(absl::StrCat("RANK=", *rank, " is outside 0..", w.world_size - 1));
  }
  w.rank = *rank;
  auto local = IntFromEnvironment("LOCAL_RANK", w.rank);
  if (!local.ok()) return local.status();
  w.local_rank = *local;
  if (const char* addr = std::getenv("MASTER_ADDR"); addr != nullptr && *addr != '\0') w.master_addr = addr;
  auto port = IntFromEnvironment("MASTER_PORT", w.master_port);
  if (!port.ok()) return port.status();
  if (*port < 1 || *port > 65535) return absl::InvalidArgumentError(absl::StrCat("MASTER_PORT=", *port, " is not a port"));
  w.master_port = *port;
  return w;
}

std::vector<int64_t> ShardPositions(int64_t count, int rank, int world_size) {
  std::vector<int64_t> positions;
  if (count <= 0 || world_size < 1) return positions;
  const int64_t per_rank = (count + world_size - 1) / world_size;
  positions.reserve(static_cast<size_t>(per_rank));
  for (int64_t i = 0; i < per_rank; ++i) positions.push_back((rank + i * world_size) % count);
  return positions;
}

#if CATDOG_HAVE_GLOO

bool DistributedAvailable() { return true; }

struct ProcessGroup::Impl {
  WorldInfo world;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;

  // A collective's failure: a peer that died closes its connection, one
  // that stalls runs into the timeout.
  absl::Status Failed(const char* what, const std::exception& e) const {
    return absl::UnavailableError(absl::StrCat("rank ", world.rank, " of ", world.world_size, ": ", what,
                                               " failed (did another rank die or stall?): ", e.what()));
  }
  absl::Status Run(const char* what, const std::function<c10::intrusive_ptr<c10d::Work>()>& start) {
    try {
      start()->wait();
      return absl::OkStatus();
    } catch (const std::exception& e) {
      return Failed(what, e);
    }
  }
};

namespace {

// Gloo over `store`, on the interface PyTorch would pick: GLOO_SOCKET_IFNAME,
// else the loopback for a loopback master, else the address this host's
// name resolves to.
c10::intrusive_ptr<c10d::ProcessGroupGloo> GlooGroup(const c10::intrusive_ptr<c10d::Store>& store,
                                                      const WorldInfo& world, std::chrono::milliseconds timeout) {
  auto options = c10d::ProcessGroupGloo::Options::create(timeout);
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname != nullptr && *ifname != '\0') {
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
  } else if (world.master_addr == "localhost" || world.master_addr.rfind("127.", 0) == 0) {
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
  } else {
    options->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  return c10::make_intrusive<c10d::ProcessGroupGloo>(store, world.rank, world.world_size, options);
}

}  // namespace

struct LocalRendezvous::Impl {
  c10::intrusive_ptr<c10d::Store> store = c10::make_intrusive<c10d::HashStore>();
};

LocalRendezvous::LocalRendezvous(int world_size, absl::Duration timeout)
    : world_size_(world_size), timeout_(timeout), impl_(std::make_unique<Impl>()) {
  impl_->store->setTimeout(std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout)));
}

namespace {

// The key each rank other than 0 sets once connected to the store, so a host
// can tell a rank that is slow to start from one that will never arrive.
std::string ArrivedKey(int rank) { return absl::StrCat("catdog/arrived/", rank); }

}  // namespace

struct RendezvousHost::Impl {
  c10::intrusive_ptr<c10d::TCPStore> store;
};

absl::StatusOr<std::unique_ptr<RendezvousHost>> RendezvousHost::Listen(int world_size, absl::Duration timeout) {
  auto impl = std::make_unique<Impl>();
  try {
    c10d::TCPStoreOptions options;
    options.port = 0;  // the OS's choice
    options.isServer = true;
    options.numWorkers = static_cast<std::size_t>(world_size);
    options.waitWorkers = false;  // JoinHost waits, watching the other ranks
    options.timeout = std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout));
    impl->store = c10::make_intrusive<c10d::TCPStore>("127.0.0.1", options);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("could not host a rendezvous on 127.0.0.1: ", e.what()));
  }
  return std::unique_ptr<RendezvousHost>(new RendezvousHost(world_size, timeout, std::move(impl)));
}

int RendezvousHost::port() const { return impl_->store->getPort(); }

absl::StatusOr<std::unique_ptr<ProcessGroup>> ProcessGroup::JoinHost(RendezvousHost& host,
                                                                     const std::function<absl::Status()>& check) {
  auto impl = std::make_unique<Impl>();
  impl->world.world_size = host.world_size();
  impl->world.master_port = host.port();
  std::vector<std::string> keys;
  for (int rank = 1; rank < host.world_size(); ++rank) keys.push_back(ArrivedKey(rank));
  const absl::Time deadline = absl::Now() + host.timeout();
  while (true) {
    try {
      // check(), not a wait with a short timeout: a timed-out wait leaves
      // its late answer on the store's connection.
      if (host.impl_->store->check(keys)) break;
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat("rendezvous store failed: ", e.what()));
    }
    if (absl::Status s = check ? check() : absl::OkStatus(); !s.ok()) return s;
    if (absl::Now() > deadline) {
      return absl::UnavailableError(absl::StrCat("not every rank of ", host.world_size(), " reached 127.0.0.1:",
                                                 host.port(), " within ", absl::FormatDuration(host.timeout())));
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  try {
    impl->store = host.impl_->store;
    impl->group = GlooGroup(impl->store, impl->world,
                            std::chrono::milliseconds(absl::ToInt64Milliseconds(host.timeout())));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("rank 0 of ", host.world_size(), " could not join: ", e.what()));
  }
  return std::unique_ptr<ProcessGroup>(new ProcessGroup(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<ProcessGroup>> ProcessGroup::Join(const WorldInfo& world, absl::Duration timeout) {
  auto impl = std::make_unique<Impl>();
  impl->world = world;
  const auto ms = std::chrono::milliseconds(absl::ToInt64Milliseconds(timeout));
  try {
    c10d::TCPStoreOptions store_options;
    store_options.port = static_cast<std::uint16_t>(world.master_port);
    store_options.isServer = world.rank == 0;
    store_options.numWorkers = static_cast<std::size_t>(world.world_size);
    store_options.timeout = ms;
    impl->store = c10::make_intrusive<c10d::TCPStore>(world.master_addr, store_options);
    if (world.rank != 0) impl->store->set(ArrivedKey(world.rank), std::vector<uint8_t>{1});
    impl->group = GlooGroup(impl->store, world, ms);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("rank ", world.rank, " of ", world.world_size, " could not join at ",
                                               world.master_addr, ":", world.master_port, ": ", e.what()));
  }
  return std::unique_ptr<ProcessGroup>(new ProcessGroup(std::move(impl)));
}

absl::StatusOr<std::unique_ptr<ProcessGroup>> ProcessGroup::JoinLocal(LocalRendezvous& rendezvous, int rank) {
  auto impl = std::make_unique<Impl>();
  impl->world.rank = rank;
  impl->world.world_size = rendezvous.world_size();
  impl->world.local_rank = rank;
  try {
    impl->store = rendezvous.impl_->store;
    impl->group = GlooGroup(impl->store, impl->world,
                            std::chrono::milliseconds(absl::ToInt64Milliseconds(rendezvous.timeout())));
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("rank ", rank, " of ", rendezvous.world_size(),
                                               " in this process could not join: ", e.what()));
  }
  return std::unique_ptr<ProcessGroup>(new ProcessGroup(std::move(impl)));
}

absl::Status ProcessGroup::AverageGradients(const std::vector<at::Tensor>& parameters, int64_t bucket_bytes) {
  torch::NoGradGuard no_grad;
  std::vector<at::Tensor> bucket;
  int64_t bytes = 0;
  auto flush = [&]() -> absl::Status {
    if (bucket.empty()) return absl::OkStatus();
    std::vector<at::Tensor> flat_views;
    for (const at::Tensor& g : bucket) flat_views.push_back(g.reshape({-1}));
    std::vector<at::Tensor> flat = {at::cat(flat_views)};
    absl::Status reduced = impl_->Run("gradient allreduce", [&] { return impl_->group->allreduce(flat); });
    if (!reduced.ok()) return reduced;
    flat[0].div_(impl_->world.world_size);
    int64_t offset = 0;
    for (const at::Tensor& g : bucket) {
      g.copy_(flat[0].narrow(0, offset, g.numel()).view_as(g));
      offset += g.numel();
    }
    bucket.clear();
    bytes = 0;
    return absl::OkStatus();
  };
  for (const at::Tensor& p : parameters) {
    at::Tensor& grad = p.mutable_grad();
    if (!grad.defined()) grad = at::zeros_like(p);
    // One dtype per bucket (a concatenation keeps one).
    if (!bucket.empty() && bucket.front().scalar_type() != grad.scalar_type()) {
      if (absl::Status s = flush(); !s.ok()) return s;
    }
    bucket.push_back(grad);
    bytes += grad.numel() * static_cast<int64_t>(grad.element_size());
    if (bytes >= bucket_bytes) {
      if (absl::Status s = flush(); !s.ok()) return s;
    }
  }
  return flush();
}

struct GradientReducer::Impl {
  struct Bucket {
    std::vector<size_t> members;  // indices into `parameters`
    at::Tensor flat;              // their gradients, back to back
    std::vector<int64_t> offsets;
    size_t pending = 0;           // members whose gradient has not arrived
    c10::intrusive_ptr<c10d::Work> work;  // set once started
  };
  ProcessGroup::Impl* group = nullptr;
  std::vector<at::Tensor> parameters;
  std::vector<unsigned> hooks;
  std::vector<size_t> bucket_of, slot_of;  // per parameter
  std::vector<char> arrived;               // per parameter, this pass
  std::vector<Bucket> buckets;
  size_t next_start = 0;  // buckets before it have started
  absl::Status error;     // a second gradient for one parameter

  at::Tensor Slot(size_t index) {
    Bucket& b = buckets[bucket_of[index]];
    const at::Tensor& p = parameters[index];
    return b.flat.narrow(0, b.offsets[slot_of[index]], p.numel()).view(p.sizes());
  }
  void Start(Bucket& b) {
    std::vector<at::Tensor> tensors = {b.flat};
    b.work = group->group->allreduce(tensors);
  }
  // Starts the full buckets in order, up to the first one still waiting.
  void StartReady() {
    while (next_start < buckets.size() && buckets[next_start].pending == 0) Start(buckets[next_start++]);
  }
  void OnGradient(size_t index, const at::Tensor& grad) {
    if (arrived[index]) {
      if (error.ok()) {
        error = absl::FailedPreconditionError(
            "a parameter received two gradients before Finish (two backward passes?); the gradient reducer "
            "averages one pass at a time");
      }
      return;
    }
    arrived[index] = 1;
    torch::NoGradGuard no_grad;
    Slot(index).copy_(grad);
    --buckets[bucket_of[index]].pending;
    StartReady();
  }
};

GradientReducer::GradientReducer(ProcessGroup& group, std::vector<at::Tensor> parameters, int64_t bucket_bytes)
    : impl_(std::make_unique<Impl>()) {
  Impl& r = *impl_;
  r.group = group.impl_.get();
  r.parameters = std::move(parameters);
  const size_t n = r.parameters.size();
  r.bucket_of.resize(n);
  r.slot_of.resize(n);
  r.arrived.assign(n, 0);
  // Reverse order, one dtype and device per bucket, a new one past bucket_bytes.
  int64_t bytes = 0;
  for (size_t k = n; k-- > 0;) {
    const at::Tensor& p = r.parameters[k];
    const bool fits = !r.buckets.empty() && bytes < bucket_bytes &&
                      r.parameters[r.buckets.back().members.front()].scalar_type() == p.scalar_type() &&
                      r.parameters[r.buckets.back().members.front()].device() == p.device();
    if (!fits) {
      r.buckets.emplace_back();
      bytes = 0;
    }
    Impl::Bucket& b = r.buckets.back();
    r.bucket_of[k] = r.buckets.size() - 1;
    r.slot_of[k] = b.members.size();
    b.offsets.push_back(b.members.empty() ? 0 : b.offsets.back() + r.parameters[b.members.back()].numel());
    b.members.push_back(k);
    bytes += p.numel() * static_cast<int64_t>(p.element_size());
  }
  for (Impl::Bucket& b : r.buckets) {
    const at::Tensor& last = r.parameters[b.members.back()];
    b.flat = at::zeros({b.offsets.back() + last.numel()}, last.options());
    b.pending = b.members.size();
  }
  for (size_t k = 0; k < n; ++k) {
    Impl* impl = impl_.get();
    r.hooks.push_back(r.parameters[k].register_hook([impl, k](const at::Tensor& grad) { impl->OnGradient(k, grad); }));
  }
}

GradientReducer::~GradientReducer() {
  // A pass that failed may leave allreduces running on the buffers.
  for (Impl::Bucket& b : impl_->buckets) {
    if (!b.work) continue;
    try {
      b.work->wait();
    } catch (const std::exception&) {
    }
  }
  for (size_t k = 0; k < impl_->parameters.size(); ++k) impl_->parameters[k].remove_hook(impl_->hooks[k]);
}

int GradientReducer::num_buckets() const { return static_cast<int>(impl_->buckets.size()); }
int GradientReducer::started() const { return static_cast<int>(impl_->next_start); }

absl::Status GradientReducer::Finish() {
  Impl& r = *impl_;
  torch::NoGradGuard no_grad;
  // Parameters backward did not reach (a skipped batch) contribute zeros.
  for (size_t k = 0; k < r.parameters.size(); ++k) {
    if (r.arrived[k]) continue;
    r.arrived[k] = 1;
    r.Slot(k).zero_();
    --r.buckets[r.bucket_of[k]].pending;
  }
  absl::Status status = std::move(r.error);
  r.error = absl::OkStatus();
  try {
    r.StartReady();
  } catch (const std::exception& e) {
    if (status.ok()) status = r.group->Failed("gradient allreduce", e);
  }
  for (Impl::Bucket& b : r.buckets) {
    try {
      if (b.work) b.work->wait();
    } catch (const std::exception& e) {
      if (status.ok()) status = r.group->Failed("gradient allreduce", e);
    }
    b.work.reset();
    b.pending = b.members.size();
  }
  r.next_start = 0;
  std::fill(r.arrived.begin(), r.arrived.end(), 0);
  if (!status.ok()) return status;
  const double world = r.group->world.world_size;
  for (Impl::Bucket& b : r.buckets) b.flat.div_(world);
  for (size_t k = 0; k < r.parameters.size(); ++k) {
    at::Tensor& grad = r.parameters[k].mutable_grad();
    if (grad.defined()) {
      grad.copy_(r.Slot(k));
    } else {
      grad = r.Slot(k).clone();
    }
  }
  return absl::OkStatus();
}

absl::Status ProcessGroup::Broadcast(const std::vector<at::Tensor>& tensors) {
  torch::NoGradGuard no_grad;
  for (const at::Tensor& t : tensors) {
    std::vector<at::Tensor> one = {t.contiguous()};
    absl::Status sent = impl_->Run("broadcast", [&] { return impl_->group->broadcast(one); });
    if (!sent.ok()) return sent;
    if (!one[0].is_same(t)) const_cast<at::Tensor&>(t).copy_(one[0]);
  }
  return absl::OkStatus();
}

absl::Status ProcessGroup::Sum(std::vector<double>* values) {
  std::vector<at::Tensor> t = {torch::tensor(*values, torch::kDouble)};
  absl::Status summed = impl_->Run("sum", [&] { return impl_->group->allreduce(t); });
  if (!summed.ok()) return summed;
  const auto a = t[0].accessor<double, 1>();
  for (size_t i = 0; i < values->size(); ++i) (*values)[i] = a[static_cast<int64_t>(i)];
  return absl::OkStatus();
}

absl::StatusOr<int64_t> ProcessGroup::BroadcastValue(int64_t value) {
  std::vector<at::Tensor> t = {torch::tensor({value}, torch::kLong)};
  absl::Status sent = impl_->Run("broadcast", [&] { return impl_->group->broadcast(t); });
  if (!sent.ok()) return sent;
  return t[0].item<int64_t>();
}

#else  // no Gloo in this LibTorch build

bool DistributedAvailable() { return false; }

struct ProcessGroup::Impl {
  WorldInfo world;
};
struct LocalRendezvous::Impl {};

LocalRendezvous::LocalRendezvous(int world_size, absl::Duration timeout)
    : world_size_(world_size), timeout_(timeout), impl_(std::make_unique<Impl>()) {}

constexpr const char* kNoGloo =
    "this catdog was built without c10d's Gloo backend (LibTorch's distributed headers and libgloo-dev), "
    "so it trains as one rank only";

absl::StatusOr<std::unique_ptr<ProcessGroup>> ProcessGroup::Join(const WorldInfo&, absl::Duration) {
  return absl::FailedPreconditionError(kNoGloo);
}
absl::StatusOr<std::unique_ptr<ProcessGroup>> ProcessGroup::JoinLocal(LocalRendezvous&, int) {
  return absl::FailedPreconditionError(kNoGloo);
}
struct RendezvousHost::Impl {};
absl::StatusOr<std::unique_ptr<RendezvousHost>> RendezvousHost::Listen(int, absl::Duration) {
  return absl::FailedPreconditionError(kNoGloo);
}
int RendezvousHost::port() const { return 0; }
absl::StatusOr<std::unique_ptr<ProcessGroup>> ProcessGroup::JoinHost(RendezvousHost&,
                                                                     const std::function<absl::Status()>&) {
  return absl::FailedPreconditionError(kNoGloo);
}
absl::Status ProcessGroup::AverageGradients(const std::vector<at::Tensor>&, int64_t) { return absl::OkStatus(); }
struct GradientReducer::Impl {};
GradientReducer::GradientReducer(ProcessGroup&, std::vector<at::Tensor>, int64_t) {}
GradientReducer::~GradientReducer() = default;
int GradientReducer::num_buckets() const { return 0; }
int GradientReducer::started() const { return 0; }
absl::Status GradientReducer::Finish() { return absl::OkStatus(); }
absl::Status ProcessGroup::Broadcast(const std::vector<at::Tensor>&) { return absl::OkStatus(); }
absl::Status ProcessGroup::Sum(std::vector<double>*) { return absl::OkStatus(); }
absl::StatusOr<int64_t> ProcessGroup::BroadcastValue(int64_t value) { return value; }

#endif

LocalRendezvous::~LocalRendezvous() = default;
RendezvousHost::RendezvousHost(int world_size, absl::Duration timeout, std::unique_ptr<Impl> impl)
    : world_size_(world_size), timeout_(timeout), impl_(std::move(impl)) {}
RendezvousHost::~RendezvousHost() = default;
ProcessGroup::ProcessGroup(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProcessGroup::~ProcessGroup() = default;
int ProcessGroup::rank() const { return impl_->world.rank; }
int ProcessGroup::world_size() const { return impl_->world.world_size; }

}  // namespace catdog::common
