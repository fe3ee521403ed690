build-fuzz/obj/trainer/cmd_train.o: trainer/cmd_train.c core/check.h \
  core/la.h core/status.h init/adapter_init.h core/rng.h init/calib.h \
  quant/quant.h trainer/options.h trainer/session.h data/tokenizer.h \
  model/weights.h model/config.h checkpoints/checkpoint.h model/model.h \
  model/linear.h model/qmodel.h trainer/train.h optim/adamw.h \
  optim/schedule.h trainer/task.h data/dataset.h trainer/metrics.h \
  trainer/train_setup.h trainer/verbs.h

core/check.h:

core/la.h:

core/status.h:

init/adapter_init.h:

core/rng.h:

init/calib.h:

quant/quant.h:

trainer/options.h:

trainer/session.h:

data/tokenizer.h:

model/weights.h:

model/config.h:

checkpoints/checkpoint.h:

model/model.h:

model/linear.h:

model/qmodel.h:

trainer/train.h:

optim/adamw.h:

optim/schedule.h:

trainer/task.h:

data/dataset.h:

trainer/metrics.h:

trainer/train_setup.h:

trainer/verbs.h:
