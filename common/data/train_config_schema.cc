#include "common/data/train_config_schema.h"

namespace catdog::common {

// Each row: JSON path, wire name, flag, help, member.
#define CATDOG_FIELD(path, wire, flag, help, member, ...)                             \
  TrainConfigField {                                                                  \
    path, wire, flag, help, [](TrainConfig& c) -> TrainConfigFieldRef { return &c.member; }, \
        {__VA_ARGS__}                                                                 \
  }

const std::vector<TrainConfigField>& TrainConfigFields() {
  static const std::vector<TrainConfigField> fields = {
      CATDOG_FIELD("preset", "preset", "--preset", "recipe the other flags start from: reference (the notebook's) | fast (small data, small machines); explicit flags override it", preset, "reference", "fast"),
      // Data.
      CATDOG_FIELD("dataset_root", "dataset", nullptr, "ImageFolder root split into train/valid", dataset_root),
      CATDOG_FIELD("test_root", "test_dataset", "--test-root", "ImageFolder evaluated with the best and last weights at the end", test_root),
      CATDOG_FIELD("valid_fraction", "valid_fraction", "--valid-fraction", "stratified validation share", valid_fraction),
      CATDOG_FIELD("split_seed", "split_seed", "--split-seed", "seed of the train/valid split", split_seed),
      CATDOG_FIELD("preprocessing.image_size", "image_size", "--image-size", "square input size in px (>= 32)", preprocessing.image_size),
      CATDOG_FIELD("preprocessing.normalize", "normalize", "--normalize", "normalise with --normalize-mean/--normalize-std (the reference does not)", preprocessing.normalize),
      CATDOG_FIELD("preprocessing.mean", "normalize_mean", "--normalize-mean", "per-channel RGB mean for --normalize", preprocessing.mean),
      CATDOG_FIELD("preprocessing.std", "normalize_std", "--normalize-std", "per-channel RGB std for --normalize", preprocessing.std),
      CATDOG_FIELD("preprocessing.tta_flip", "tta_flip", "--tta-flip", "evaluate and serve the mean of each image's and its mirror's probabilities", preprocessing.tta_flip),
      CATDOG_FIELD("eval_scale", "eval_scale", "--eval-scale", "validate, test and serve at this multiple of --image-size (1 = the training size): resized crops show objects larger than whole images do", eval_scale),
      CATDOG_FIELD("normalize_from_train", "normalize_from_train", "--normalize-from-train", "normalise with the training split's own mean/std (stored in the model card)", normalize_from_train),
      CATDOG_FIELD("augment.flip_probability", "flip_probability", "--flip", "horizontal flip probability", augment.flip_probability),
      CATDOG_FIELD("augment.crop_padding", "crop_padding", "--crop-padding", "random crop padding in px (0 = off)", augment.crop_padding),
      CATDOG_FIELD("augment.rotation_degrees", "rotation_degrees", "--rotation", "random rotation range in degrees (0 = off)", augment.rotation_degrees),
      CATDOG_FIELD("augment.grayscale_probability", "grayscale_probability", "--grayscale", "random grayscale probability", augment.grayscale_probability),
      CATDOG_FIELD("augment.crop_scale_min", "crop_scale_min", "--crop-scale-min", "random resized crop: smallest area share in (0, 1] (0 = off)", augment.crop_scale_min),
      CATDOG_FIELD("augment.color_jitter", "color_jitter", "--color-jitter", "brightness/contrast/saturation jitter in [0, 1) (0 = off)", augment.color_jitter),
      // Model.
      CATDOG_FIELD("arch", "arch", "--arch", "architecture", arch),
      CATDOG_FIELD("width", "width", "--width", "channel width multiplier (1.0 = reference VGG16)", width),
      // Optimisation.
      CATDOG_FIELD("batch_size", "batch_size", "--batch-size", "images per training batch", batch_size),
      CATDOG_FIELD("epochs", "epochs", "--epochs", "maximum epochs", epochs),
      CATDOG_FIELD("optimizer", "optimizer", "--optimizer", "adam (weight decay as L2) | adamw (decoupled weight decay)", optimizer, "adam", "adamw"),
      CATDOG_FIELD("learning_rate", "learning_rate", "--lr", "learning rate (the peak, with a warmup)", learning_rate),
      CATDOG_FIELD("weight_decay", "weight_decay", "--weight-decay", "weight decay", weight_decay),
      CATDOG_FIELD("lr_schedule", "lr_schedule", "--lr-schedule", "plateau (ReduceLROnPlateau on valid loss) | cosine (warmup, then cosine to 0 over the planned epochs)", lr_schedule, "plateau", "cosine"),
      CATDOG_FIELD("warmup_epochs", "warmup_epochs", "--warmup-epochs", "linear warmup length for --lr-schedule cosine (epochs, may be fractional)", warmup_epochs),
      CATDOG_FIELD("time_budget_min", "time_budget_min", "--time-budget-min", "plan the epoch count (at most --epochs) to finish within this many minutes (0 = off)", time_budget_min),
      CATDOG_FIELD("label_smoothing", "label_smoothing", "--label-smoothing", "training target smoothing in [0, 1) (0 = one-hot, the reference)", label_smoothing),
      CATDOG_FIELD("cutmix", "cutmix", "--cutmix", "share of training batches in [0, 1] trained on CutMix (a box from another image, both labels weighted by area; 0 = off, the reference)", cutmix),
      CATDOG_FIELD("best_by", "best_by", "--best-by", "which weights become best.ckpt (tested, promoted, served): accuracy (the epoch of the highest valid accuracy, the reference) | last (the latest epoch's)", best_by, "accuracy", "last"),
      CATDOG_FIELD("ema_decay", "ema_decay", "--ema-decay", "validate, checkpoint and serve a moving average of the weights with this decay a step, in [0, 1) (0 = off, the reference)", ema_decay),
      CATDOG_FIELD("lr_factor", "lr_factor", "--lr-factor", "ReduceLROnPlateau factor", lr_factor),
      CATDOG_FIELD("lr_patience", "lr_patience", "--lr-patience", "ReduceLROnPlateau patience (epochs)", lr_patience),
      CATDOG_FIELD("early_stop_patience", "early_stop_patience", "--early-stop-patience", "stop when the trigger exceeds this", early_stop_patience),
      CATDOG_FIELD("seed", "seed", "--seed", "seed of weight init, shuffling and augmentation", seed),
      // Execution.
      CATDOG_FIELD("device", "device", "--device", "auto | cpu | cuda | cuda:N", device),
      CATDOG_FIELD("threads", "threads", "--threads", "intra-op threads (0 = the default: all cores, or the server's --threads)", threads),
      CATDOG_FIELD("workers", "workers", "--workers", "data-parallel ranks as threads of the training process (CPU), each on its shard with batch-size / workers images a step and threads / workers intra-op threads", workers),
      CATDOG_FIELD("nproc_per_node", "nproc_per_node", "--nproc-per-node", "data-parallel ranks as processes (CPU): the training process (catdogd's, for catdogctl) is rank 0 and starts the others on its machine, each on its shard with batch-size / N images a step and threads / N intra-op threads", nproc_per_node),
      CATDOG_FIELD("allreduce_after_backward", "allreduce_after_backward", "--allreduce-after-backward", "data parallel: average gradients after backward, not while it runs (for a CPU with no core to spare)", allreduce_after_backward),
      CATDOG_FIELD("loader_workers", "loader_workers", "--loader-workers", "image decode threads", loader_workers),
      CATDOG_FIELD("prefetch_batches", "prefetch_batches", "--prefetch-batches", "batches decoded ahead of training", prefetch_batches),
      CATDOG_FIELD("cache_budget_mb", "cache_budget_mb", "--cache-mb", "keep decoded images in RAM up to this size", cache_budget_mb),
      CATDOG_FIELD("precision", "precision", "--precision", "fp32 | bf16 | fp16 autocast (fp16: CUDA only)", precision, "fp32", "bf16", "fp16"),
      CATDOG_FIELD("progress_interval", "progress_interval", "--progress-interval", "progress event every N batches (0 = off)", progress_interval),
      CATDOG_FIELD("checkpoint_interval_min", "checkpoint_interval_min", "--checkpoint-interval-min", "also save a resumable mid-epoch checkpoint every N minutes and when stopped (0 = epoch ends only)", checkpoint_interval_min),
      // Outputs: chosen by whoever runs the trainer (catdogd per job,
      // catdog-train by its --out), so neither on the wire nor a shared flag.
      CATDOG_FIELD("output_dir", nullptr, nullptr, "folder of best.ckpt and last.ckpt", output_dir),
      CATDOG_FIELD("tensorboard_dir", nullptr, nullptr, "TensorBoard run folder", tensorboard_dir),
      CATDOG_FIELD("resume", nullptr, nullptr, "continue from output_dir's checkpoints", resume),
      CATDOG_FIELD("confine_root", nullptr, nullptr, "read datasets only within this folder", confine_root),
  };
  return fields;
}

#undef CATDOG_FIELD

}  // namespace catdog::common
