build-fuzz/obj/trainer/task.o: trainer/task.c trainer/task.h \
  data/dataset.h core/status.h data/tokenizer.h model/model.h \
  model/config.h model/linear.h quant/quant.h model/weights.h \
  trainer/metrics.h core/check.h data/glue.h data/text.h

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

data/glue.h:

data/text.h:
