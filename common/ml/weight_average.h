// An exponential moving average of a model's weights (Polyak averaging, as
// timm's ModelEma and TensorFlow's ExponentialMovingAverage): after every
// optimizer step, average = d * average + (1 - d) * weights over the
// parameters and the floating-point buffers (BatchNorm's running
// statistics); counters are copied. The decay is warmed up as
// min(decay, (1 + t) / (10 + t)) at step t, so the first steps' random
// initialisation does not linger in the average.
#pragma once

#include <cstdint>

#include "common/ml/vgg.h"

namespace catdog::common {

// The decay applied at step t (1-based).
double AverageDecayAt(double decay, int64_t step);

// Folds `model`'s weights into `average` (same architecture) at step t.
void UpdateAverage(Vgg16& average, Vgg16& model, double decay, int64_t step);

// Copies `from`'s parameters and buffers into `to` (same architecture).
void CopyWeights(Vgg16& from, Vgg16& to);

}  // namespace catdog::common
