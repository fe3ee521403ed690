build-fuzz/obj/trainer/cmd_generate.o: trainer/cmd_generate.c \
  core/check.h model/model.h model/config.h core/status.h model/linear.h \
  quant/quant.h model/weights.h trainer/options.h trainer/session.h \
  data/tokenizer.h checkpoints/checkpoint.h core/rng.h model/qmodel.h \
  trainer/verbs.h

core/check.h:

model/model.h:

model/config.h:

core/status.h:

model/linear.h:

quant/quant.h:

model/weights.h:

trainer/options.h:

trainer/session.h:

data/tokenizer.h:

checkpoints/checkpoint.h:

core/rng.h:

model/qmodel.h:

trainer/verbs.h:
