build-fuzz/obj/trainer/train_setup.o: trainer/train_setup.c \
  trainer/train_setup.h data/tokenizer.h core/status.h model/model.h \
  model/config.h model/linear.h quant/quant.h model/weights.h \
  trainer/task.h data/dataset.h trainer/metrics.h \
  checkpoints/checkpoint.h core/check.h core/rng.h checkpoints/stats.h \
  init/calibrate.h data/text.h init/calib.h data/batch.h \
  init/adapter_init.h init/init_model.h trainer/session.h model/qmodel.h

trainer/train_setup.h:

data/tokenizer.h:

core/status.h:

model/model.h:

model/config.h:

model/linear.h:

quant/quant.h:

model/weights.h:

trainer/task.h:

data/dataset.h:

trainer/metrics.h:

checkpoints/checkpoint.h:

core/check.h:

core/rng.h:

checkpoints/stats.h:

init/calibrate.h:

data/text.h:

init/calib.h:

data/batch.h:

init/adapter_init.h:

init/init_model.h:

trainer/session.h:

model/qmodel.h:
