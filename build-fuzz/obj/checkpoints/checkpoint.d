build-fuzz/obj/checkpoints/checkpoint.o: checkpoints/checkpoint.c \
  checkpoints/checkpoint.h core/status.h model/config.h model/model.h \
  model/linear.h quant/quant.h model/weights.h checkpoints/h5.h \
  core/check.h

checkpoints/checkpoint.h:

core/status.h:

model/config.h:

model/model.h:

model/linear.h:

quant/quant.h:

model/weights.h:

checkpoints/h5.h:

core/check.h:
