build-fuzz/obj/trainer/cmd_init.o: trainer/cmd_init.c \
  checkpoints/checkpoint.h core/status.h model/config.h model/model.h \
  model/linear.h quant/quant.h model/weights.h core/check.h \
  init/init_model.h init/adapter_init.h core/rng.h init/calib.h \
  init/calibrate.h data/dataset.h data/tokenizer.h data/text.h \
  trainer/calib_cli.h trainer/options.h trainer/session.h model/qmodel.h \
  trainer/verbs.h

checkpoints/checkpoint.h:

core/status.h:

model/config.h:

model/model.h:

model/linear.h:

quant/quant.h:

model/weights.h:

core/check.h:

init/init_model.h:

init/adapter_init.h:

core/rng.h:

init/calib.h:

init/calibrate.h:

data/dataset.h:

data/tokenizer.h:

data/text.h:

trainer/calib_cli.h:

trainer/options.h:

trainer/session.h:

model/qmodel.h:

trainer/verbs.h:
