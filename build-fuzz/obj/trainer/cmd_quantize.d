build-fuzz/obj/trainer/cmd_quantize.o: trainer/cmd_quantize.c \
  checkpoints/checkpoint.h core/status.h model/config.h model/model.h \
  model/linear.h quant/quant.h model/weights.h core/check.h \
  model/qmodel.h trainer/options.h trainer/session.h data/tokenizer.h \
  core/rng.h trainer/verbs.h

checkpoints/checkpoint.h:

core/status.h:

model/config.h:

model/model.h:

model/linear.h:

quant/quant.h:

model/weights.h:

core/check.h:

model/qmodel.h:

trainer/options.h:

trainer/session.h:

data/tokenizer.h:

core/rng.h:

trainer/verbs.h:
