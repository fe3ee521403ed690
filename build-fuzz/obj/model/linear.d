build-fuzz/obj/model/linear.o: model/linear.c model/linear.h \
  quant/quant.h core/status.h core/la.h

model/linear.h:

quant/quant.h:

core/status.h:

core/la.h:
