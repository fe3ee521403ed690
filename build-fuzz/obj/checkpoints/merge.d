build-fuzz/obj/checkpoints/merge.o: checkpoints/merge.c \
  checkpoints/merge.h checkpoints/export.h core/status.h model/config.h \
  model/model.h model/linear.h quant/quant.h model/weights.h \
  core/check.h core/la.h

checkpoints/merge.h:

checkpoints/export.h:

core/status.h:

model/config.h:

model/model.h:

model/linear.h:

quant/quant.h:

model/weights.h:

core/check.h:

core/la.h:
