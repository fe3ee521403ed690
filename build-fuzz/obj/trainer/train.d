build-fuzz/obj/trainer/train.o: trainer/train.c trainer/train.h \
  checkpoints/checkpoint.h core/status.h model/config.h model/model.h \
  model/linear.h quant/quant.h model/weights.h optim/adamw.h \
  optim/schedule.h trainer/task.h data/dataset.h data/tokenizer.h \
  trainer/metrics.h core/check.h data/batch.h core/rng.h optim/clip.h \
  trainer/evaluate.h

trainer/train.h:

checkpoints/checkpoint.h:

core/status.h:

model/config.h:

model/model.h:

model/linear.h:

quant/quant.h:

model/weights.h:

optim/adamw.h:

optim/schedule.h:

trainer/task.h:

data/dataset.h:

data/tokenizer.h:

trainer/metrics.h:

core/check.h:

data/batch.h:

core/rng.h:

optim/clip.h:

trainer/evaluate.h:
