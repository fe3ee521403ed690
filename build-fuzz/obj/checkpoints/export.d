build-fuzz/obj/checkpoints/export.o: checkpoints/export.c \
  checkpoints/export.h core/status.h model/config.h model/model.h \
  model/linear.h quant/quant.h model/weights.h core/check.h

checkpoints/export.h:

core/status.h:

model/config.h:

model/model.h:

model/linear.h:

quant/quant.h:

model/weights.h:

core/check.h:
