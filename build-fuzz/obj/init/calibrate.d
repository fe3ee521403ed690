build-fuzz/obj/init/calibrate.o: init/calibrate.c init/calibrate.h \
  core/status.h data/dataset.h data/tokenizer.h data/text.h init/calib.h \
  model/model.h model/config.h model/linear.h quant/quant.h \
  model/weights.h core/check.h core/progress.h data/batch.h core/rng.h

init/calibrate.h:

core/status.h:

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

core/progress.h:

data/batch.h:

core/rng.h:
