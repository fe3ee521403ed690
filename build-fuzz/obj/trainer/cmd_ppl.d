build-fuzz/obj/trainer/cmd_ppl.o: trainer/cmd_ppl.c core/check.h \
  core/progress.h data/text.h core/status.h data/tokenizer.h \
  model/model.h model/config.h model/linear.h quant/quant.h \
  model/weights.h trainer/options.h trainer/session.h \
  checkpoints/checkpoint.h core/rng.h model/qmodel.h \
  trainer/train_setup.h trainer/task.h data/dataset.h trainer/metrics.h \
  trainer/verbs.h

core/check.h:

core/progress.h:

data/text.h:

core/status.h:

data/tokenizer.h:

model/model.h:

model/config.h:

model/linear.h:

quant/quant.h:

model/weights.h:

trainer/options.h:

trainer/session.h:

checkpoints/checkpoint.h:

core/rng.h:

model/qmodel.h:

trainer/train_setup.h:

trainer/task.h:

data/dataset.h:

trainer/metrics.h:

trainer/verbs.h:
