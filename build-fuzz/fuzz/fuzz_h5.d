build-fuzz/fuzz/fuzz_h5: tests/fuzz/fuzz_h5.c tests/fuzz/fuzz_util.h \
  checkpoints/checkpoint.h core/status.h model/config.h model/model.h \
  model/linear.h quant/quant.h model/weights.h checkpoints/h5.h \
  checkpoints/stats.h init/calibrate.h data/dataset.h data/tokenizer.h \
  data/text.h init/calib.h

tests/fuzz/fuzz_util.h:

checkpoints/checkpoint.h:

core/status.h:

model/config.h:

model/model.h:

model/linear.h:

quant/quant.h:

model/weights.h:

checkpoints/h5.h:

checkpoints/stats.h:

init/calibrate.h:

data/dataset.h:

data/tokenizer.h:

data/text.h:

init/calib.h:
