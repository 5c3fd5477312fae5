BEGIN TRANSACTION;
CREATE TABLE checkpoints(
  job_id TEXT NOT NULL, kind TEXT NOT NULL, path TEXT NOT NULL,
  epoch INTEGER, valid_loss REAL, valid_accuracy REAL, test_accuracy REAL,
  PRIMARY KEY(job_id, kind));
INSERT INTO "checkpoints" VALUES('job-1','best','/tmp/fix/state/jobs/job-1/best.ckpt',1,6.75041735172271728515e-01,0.6,NULL);
INSERT INTO "checkpoints" VALUES('job-1','last','/tmp/fix/state/jobs/job-1/last.ckpt',2,6.73009645938873246606e-01,0.6,NULL);
CREATE TABLE epochs(
  job_id TEXT NOT NULL,
  epoch INTEGER NOT NULL,
  train_loss REAL, valid_loss REAL, valid_accuracy REAL, learning_rate REAL,
  early_stop_trigger INTEGER, seconds REAL, images_per_second REAL,
  data_wait_seconds REAL, is_best INTEGER,
  PRIMARY KEY(job_id, epoch));
INSERT INTO "epochs" VALUES('job-1',1,7.11645879243549495107e-01,6.75041735172271728515e-01,0.6,0.0001,0,0.112715311,1.8321868263549274048e+02,0.017055664,1);
INSERT INTO "epochs" VALUES('job-1',2,6.74779230042507727205e-01,6.73009645938873246606e-01,0.6,0.0001,0,0.045801022,4.71420141514867964372e+02,2.49855999999999689453e-04,0);
CREATE TABLE jobs(
  id TEXT PRIMARY KEY,
  state TEXT NOT NULL,
  config_json TEXT NOT NULL,
  auto_promote INTEGER NOT NULL,
  created_ms INTEGER NOT NULL,
  started_ms INTEGER NOT NULL,
  finished_ms INTEGER NOT NULL,
  error TEXT NOT NULL,
  epochs_completed INTEGER NOT NULL,
  best_epoch INTEGER NOT NULL,
  best_valid_accuracy REAL NOT NULL,
  class_names TEXT NOT NULL,
  train_images INTEGER NOT NULL,
  valid_images INTEGER NOT NULL);
INSERT INTO "jobs" VALUES('job-1','SUCCEEDED','{"arch":"vgg16","augment":{"crop_padding":0,"flip_probability":0.3,"grayscale_probability":0.0,"rotation_degrees":0.0},"batch_size":4,"cache_budget_mb":4096,"dataset_root":"/tmp/fix/data/pets","device":"auto","early_stop_patience":7,"epochs":2,"learning_rate":0.0001,"loader_workers":2,"lr_factor":0.1,"lr_patience":4,"output_dir":"/tmp/fix/state/jobs/job-1","precision":"fp32","prefetch_batches":4,"preprocessing":{"image_size":32,"mean":[0.48500001430511475,0.4560000002384186,0.4059999883174896],"normalize":false,"std":[0.2290000021457672,0.2240000069141388,0.22499999403953552]},"progress_interval":10,"seed":42,"split_seed":42,"tensorboard_dir":"/tmp/fix/state/tensorboard/job-1","test_root":"","threads":2,"valid_fraction":0.2,"weight_decay":0.0,"width":0.125}',1,1795884310302,1795884310304,1795884310569,'',2,1,0.6,'cat
dog',19,5);
CREATE TABLE serving(
  singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
  model_id TEXT NOT NULL, path TEXT NOT NULL);
INSERT INTO "serving" VALUES(1,'job-1/best','/tmp/fix/state/jobs/job-1/best.ckpt');
CREATE TABLE test_evaluations(
  job_id TEXT NOT NULL, kind TEXT NOT NULL, metrics_json TEXT NOT NULL,
  PRIMARY KEY(job_id, kind));
COMMIT;