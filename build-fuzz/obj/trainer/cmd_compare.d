build-fuzz/obj/trainer/cmd_compare.o: trainer/cmd_compare.c core/check.h \
  core/progress.h quant/quant.h core/status.h trainer/options.h \
  trainer/session.h data/tokenizer.h model/weights.h model/config.h \
  checkpoints/checkpoint.h model/model.h model/linear.h core/rng.h \
  model/qmodel.h trainer/verbs.h

core/check.h:

core/progress.h:

quant/quant.h:

core/status.h:

trainer/options.h:

trainer/session.h:

data/tokenizer.h:

model/weights.h:

model/config.h:

checkpoints/checkpoint.h:

model/model.h:

model/linear.h:

core/rng.h:

model/qmodel.h:

trainer/verbs.h:
