build-fuzz/obj/model/qmodel.o: model/qmodel.c model/qmodel.h \
  core/status.h model/config.h model/model.h model/linear.h \
  quant/quant.h model/weights.h core/check.h

model/qmodel.h:

core/status.h:

model/config.h:

model/model.h:

model/linear.h:

quant/quant.h:

model/weights.h:

core/check.h:
