build-fuzz/obj/trainer/session.o: trainer/session.c trainer/session.h \
  data/tokenizer.h core/status.h model/weights.h model/config.h \
  checkpoints/checkpoint.h model/model.h model/linear.h quant/quant.h \
  core/rng.h model/qmodel.h core/check.h

trainer/session.h:

data/tokenizer.h:

core/status.h:

model/weights.h:

model/config.h:

checkpoints/checkpoint.h:

model/model.h:

model/linear.h:

quant/quant.h:

core/rng.h:

model/qmodel.h:

core/check.h:
