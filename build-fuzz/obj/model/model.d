build-fuzz/obj/model/model.o: model/model.c model/model.h model/config.h \
  core/status.h model/linear.h quant/quant.h model/weights.h \
  core/check.h core/la.h model/layers.h

model/model.h:

model/config.h:

core/status.h:

model/linear.h:

quant/quant.h:

model/weights.h:

core/check.h:

core/la.h:

model/layers.h:
