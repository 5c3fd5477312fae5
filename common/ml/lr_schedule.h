// Learning-rate schedules (ReduceLROnPlateau, warmup + cosine), the epoch
// count that fits a time budget and the reference's early-stopping trigger:
// pure logic, so tests drive them with scripted values. The classes are not
// thread-safe (one per training run).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

namespace catdog::common {

// PyTorch's ReduceLROnPlateau in mode "min" with threshold_mode "rel": an
// epoch improves when loss < best * (1 - threshold). After more than
// `patience` epochs without improvement, lr = max(lr * factor, min_lr)
// (skipped when the change is below eps), then `cooldown` epochs are not
// counted.
class PlateauScheduler {
 public:
  struct Options {
    double initial_lr = 1e-4;
    double factor = 0.1;
    int patience = 4;
    double threshold = 1e-4;
    int cooldown = 0;
    double min_lr = 0.0;
    double eps = 1e-8;
  };
  explicit PlateauScheduler(const Options& options) : options_(options), lr_(options.initial_lr) {}

  // Feeds one epoch's validation loss; returns true when the rate was reduced.
  bool Step(double loss) {
    if (loss < best_ * (1.0 - options_.threshold)) {
      best_ = loss;
      bad_epochs_ = 0;
    } else {
      ++bad_epochs_;
    }
    if (cooldown_left_ > 0) {
      --cooldown_left_;
      bad_epochs_ = 0;
    }
    if (bad_epochs_ > options_.patience) {
      bad_epochs_ = 0;
      cooldown_left_ = options_.cooldown;
      const double reduced = std::max(lr_ * options_.factor, options_.min_lr);
      if (lr_ - reduced > options_.eps) {
        lr_ = reduced;
        return true;
      }
    }
    return false;
  }

  double lr() const { return lr_; }
  int bad_epochs() const { return bad_epochs_; }
  double best() const { return best_; }
  int cooldown_left() const { return cooldown_left_; }
  // Continues a schedule saved from the accessors above.
  void Restore(double lr, double best, int bad_epochs, int cooldown_left) {
    lr_ = lr;
    best_ = best;
    bad_epochs_ = bad_epochs;
    cooldown_left_ = cooldown_left;
  }

 private:
  const Options options_;
  double lr_;
  double best_ = std::numeric_limits<double>::infinity();
  int bad_epochs_ = 0;
  int cooldown_left_ = 0;
};

// Linear warmup then cosine decay, per batch: the rate for 0-based step
// `step` rises linearly to `peak` over the first `warmup_steps` steps, then
// follows peak * (1 + cos(pi * t)) / 2 with t going from 0 to 1 over the
// remaining steps of `total_steps`. total_steps <= 0 (not planned yet) holds
// the peak after the warmup.
inline double WarmupCosineRate(double peak, int64_t step, int64_t warmup_steps, int64_t total_steps) {
  if (step < warmup_steps) return peak * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  if (total_steps <= 0) return peak;
  const double span = static_cast<double>(std::max<int64_t>(total_steps - warmup_steps, 1));
  const double t = std::min(static_cast<double>(step - warmup_steps) / span, 1.0);
  return peak * 0.5 * (1.0 + std::cos(3.14159265358979323846 * t));
}

// The epoch count that fits a time budget: the `done` epochs already
// trained plus as many more as fit in what is left of `budget_s` after
// `elapsed_s` and `reserved_s` (the final test evaluation), at `epoch_s`
// seconds each; clamped to [max(done, 1), max_epochs].
inline int64_t EpochsWithinBudget(double budget_s, double elapsed_s, double epoch_s, double reserved_s,
                                  int64_t done, int64_t max_epochs) {
  const double left = budget_s - elapsed_s - reserved_s;
  const int64_t more = epoch_s > 0.0 && left > 0.0 ? static_cast<int64_t>(left / epoch_s) : 0;
  return std::clamp<int64_t>(done + more, std::max<int64_t>(done, 1), max_epochs);
}

// The reference notebook's trigger: an epoch whose valid loss is above the
// best so far increments it, any other epoch resets it (and sets the best);
// training stops once it exceeds `patience`.
class EarlyStopping {
 public:
  explicit EarlyStopping(int patience) : patience_(patience) {}

  // Returns true when training should stop after this epoch.
  bool Step(double loss) {
    if (loss > best_) {
      ++trigger_;
    } else {
      best_ = loss;
      trigger_ = 0;
    }
    return trigger_ > patience_;
  }

  int64_t trigger() const { return trigger_; }
  double best() const { return best_; }
  void Restore(double best, int64_t trigger) {
    best_ = best;
    trigger_ = trigger;
  }

 private:
  const int patience_;
  double best_ = std::numeric_limits<double>::infinity();
  int64_t trigger_ = 0;
};

}  // namespace catdog::common
