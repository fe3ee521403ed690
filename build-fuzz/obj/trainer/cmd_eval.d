build-fuzz/obj/trainer/cmd_eval.o: trainer/cmd_eval.c core/check.h \
  core/la.h core/status.h trainer/evaluate.h trainer/task.h \
  data/dataset.h data/tokenizer.h model/model.h model/config.h \
  model/linear.h quant/quant.h model/weights.h trainer/metrics.h \
  trainer/options.h trainer/session.h checkpoints/checkpoint.h \
  core/rng.h model/qmodel.h trainer/verbs.h

core/check.h:

core/la.h:

core/status.h:

trainer/evaluate.h:

trainer/task.h:

data/dataset.h:

data/tokenizer.h:

model/model.h:

model/config.h:

model/linear.h:

quant/quant.h:

model/weights.h:

trainer/metrics.h:

trainer/options.h:

trainer/session.h:

checkpoints/checkpoint.h:

core/rng.h:

model/qmodel.h:

trainer/verbs.h:
