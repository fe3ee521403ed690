build-fuzz/obj/checkpoints/stats.o: checkpoints/stats.c \
  checkpoints/stats.h core/status.h init/calibrate.h data/dataset.h \
  data/tokenizer.h data/text.h init/calib.h model/model.h model/config.h \
  model/linear.h quant/quant.h model/weights.h checkpoints/h5.h \
  core/check.h

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

checkpoints/h5.h:

core/check.h:
