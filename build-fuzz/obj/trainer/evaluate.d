build-fuzz/obj/trainer/evaluate.o: trainer/evaluate.c trainer/evaluate.h \
  trainer/task.h data/dataset.h core/status.h data/tokenizer.h \
  model/model.h model/config.h model/linear.h quant/quant.h \
  model/weights.h trainer/metrics.h core/check.h core/progress.h \
  data/batch.h core/rng.h

trainer/evaluate.h:

trainer/task.h:

data/dataset.h:

core/status.h:

data/tokenizer.h:

model/model.h:

model/config.h:

model/linear.h:

quant/quant.h:

model/weights.h:

trainer/metrics.h:

core/check.h:

core/progress.h:

data/batch.h:

core/rng.h:
