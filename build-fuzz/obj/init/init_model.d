build-fuzz/obj/init/init_model.o: init/init_model.c init/init_model.h \
  core/status.h init/adapter_init.h core/rng.h init/calib.h \
  quant/quant.h init/calibrate.h data/dataset.h data/tokenizer.h \
  data/text.h model/model.h model/config.h model/linear.h \
  model/weights.h core/check.h core/la.h

init/init_model.h:

core/status.h:

init/adapter_init.h:

core/rng.h:

init/calib.h:

quant/quant.h:

init/calibrate.h:

data/dataset.h:

data/tokenizer.h:

data/text.h:

model/model.h:

model/config.h:

model/linear.h:

model/weights.h:

core/check.h:

core/la.h:
