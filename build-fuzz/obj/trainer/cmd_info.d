build-fuzz/obj/trainer/cmd_info.o: trainer/cmd_info.c core/check.h \
  core/la.h core/status.h model/model.h model/config.h model/linear.h \
  quant/quant.h model/weights.h trainer/options.h trainer/session.h \
  data/tokenizer.h checkpoints/checkpoint.h core/rng.h model/qmodel.h \
  trainer/verbs.h

core/check.h:

core/la.h:

core/status.h:

model/model.h:

model/config.h:

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
