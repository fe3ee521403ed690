build-fuzz/obj/trainer/cmd_calibrate.o: trainer/cmd_calibrate.c \
  checkpoints/stats.h core/status.h init/calibrate.h data/dataset.h \
  data/tokenizer.h data/text.h init/calib.h model/model.h model/config.h \
  model/linear.h quant/quant.h model/weights.h core/check.h data/batch.h \
  core/rng.h trainer/calib_cli.h trainer/options.h trainer/session.h \
  checkpoints/checkpoint.h model/qmodel.h trainer/task.h \
  trainer/metrics.h trainer/verbs.h

checkpoints/stats.h:

core/status.h:

init/calibrate.h:

data/dataset.h:

data/tokenizer.h:

data/text.h:

init/calib.h:

model/model.h:

model/config.h:

model/linear.h:

quant/quant.h:

model/weights.h:

core/check.h:

data/batch.h:

core/rng.h:

trainer/calib_cli.h:

trainer/options.h:

trainer/session.h:

checkpoints/checkpoint.h:

model/qmodel.h:

trainer/task.h:

trainer/metrics.h:

trainer/verbs.h:
