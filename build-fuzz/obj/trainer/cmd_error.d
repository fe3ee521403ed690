build-fuzz/obj/trainer/cmd_error.o: trainer/cmd_error.c \
  checkpoints/stats.h core/status.h init/calibrate.h data/dataset.h \
  data/tokenizer.h data/text.h init/calib.h model/model.h model/config.h \
  model/linear.h quant/quant.h model/weights.h core/check.h \
  init/errors.h init/init_model.h init/adapter_init.h core/rng.h \
  trainer/calib_cli.h trainer/options.h trainer/session.h \
  checkpoints/checkpoint.h model/qmodel.h trainer/verbs.h

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

init/errors.h:

init/init_model.h:

init/adapter_init.h:

core/rng.h:

trainer/calib_cli.h:

trainer/options.h:

trainer/session.h:

checkpoints/checkpoint.h:

model/qmodel.h:

trainer/verbs.h:
