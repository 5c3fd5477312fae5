#include "client/train_flags.h"

namespace catdog::client {

void AddTrainConfigFlags(CLI::App& app, common::TrainConfig& c) {
  app.add_option("--test-root", c.test_root, "ImageFolder evaluated with the best and last weights at the end");
  app.add_option("--image-size", c.preprocessing.image_size, "square input size in px (>= 32)")->capture_default_str();
  app.add_option("--batch-size", c.batch_size, "images per training batch")->capture_default_str();
  app.add_option("--epochs", c.epochs, "maximum epochs")->capture_default_str();
  app.add_option("--lr", c.learning_rate, "Adam learning rate")->capture_default_str();
  app.add_option("--weight-decay", c.weight_decay, "Adam weight decay")->capture_default_str();
  app.add_option("--valid-fraction", c.valid_fraction, "stratified validation share")->capture_default_str();
  app.add_option("--split-seed", c.split_seed, "seed of the train/valid split")->capture_default_str();
  app.add_option("--seed", c.seed, "seed of weight init, shuffling and augmentation")->capture_default_str();
  app.add_option("--flip", c.augment.flip_probability, "horizontal flip probability")->capture_default_str();
  app.add_option("--crop-padding", c.augment.crop_padding, "random crop padding in px (0 = off)")->capture_default_str();
  app.add_option("--rotation", c.augment.rotation_degrees, "random rotation range in degrees (0 = off)")->capture_default_str();
  app.add_option("--grayscale", c.augment.grayscale_probability, "random grayscale probability")->capture_default_str();
  app.add_flag("--normalize", c.preprocessing.normalize, "normalise with ImageNet mean/std (the reference does not)");
  app.add_option("--lr-patience", c.lr_patience, "ReduceLROnPlateau patience (epochs)")->capture_default_str();
  app.add_option("--lr-factor", c.lr_factor, "ReduceLROnPlateau factor")->capture_default_str();
  app.add_option("--early-stop-patience", c.early_stop_patience, "stop when the trigger exceeds this")->capture_default_str();
  app.add_option("--arch", c.arch, "architecture")->capture_default_str();
  app.add_option("--width", c.width, "channel width multiplier (1.0 = reference VGG16)")->capture_default_str();
  app.add_option("--device", c.device, "auto | cpu | cuda | cuda:N")->capture_default_str();
  app.add_option("--precision", c.precision, "fp32 | bf16 | fp16 autocast (fp16: CUDA only)")
      ->capture_default_str()->check(CLI::IsMember({"fp32", "bf16", "fp16"}));
  app.add_option("--threads", c.threads, "intra-op threads (0 = the default: all cores, or the server's --threads)")->capture_default_str();
  app.add_option("--loader-workers", c.loader_workers, "image decode threads")->capture_default_str();
  app.add_option("--cache-mb", c.cache_budget_mb, "keep decoded images in RAM up to this size")->capture_default_str();
  app.add_option("--progress-interval", c.progress_interval, "progress event every N batches (0 = off)")->capture_default_str();
}

}  // namespace catdog::client
