build-fuzz/obj/trainer/cmd_merge.o: trainer/cmd_merge.c \
  checkpoints/checkpoint.h core/status.h model/config.h model/model.h \
  model/linear.h quant/quant.h model/weights.h checkpoints/export.h \
  checkpoints/merge.h core/check.h core/rng.h data/text.h \
  data/tokenizer.h model/qmodel.h trainer/options.h trainer/session.h \
  trainer/verbs.h

checkpoints/checkpoint.h:

core/status.h:

model/config.h:

model/model.h:

model/linear.h:

quant/quant.h:

model/weights.h:

checkpoints/export.h:

checkpoints/merge.h:

core/check.h:

core/rng.h:

data/text.h:

data/tokenizer.h:

model/qmodel.h:

trainer/options.h:

trainer/session.h:

trainer/verbs.h:
