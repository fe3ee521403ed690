build-fuzz/obj/trainer/calib_cli.o: trainer/calib_cli.c \
  trainer/calib_cli.h data/text.h core/status.h data/tokenizer.h \
  init/calibrate.h data/dataset.h init/calib.h model/model.h \
  model/config.h model/linear.h quant/quant.h model/weights.h \
  checkpoints/stats.h core/check.h

trainer/calib_cli.h:

data/text.h:

core/status.h:

data/tokenizer.h:

init/calibrate.h:

data/dataset.h:

init/calib.h:

model/model.h:

model/config.h:

model/linear.h:

quant/quant.h:

model/weights.h:

checkpoints/stats.h:

core/check.h:
