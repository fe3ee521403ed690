build-fuzz/obj/quant/half.o: quant/half.c quant/quant_internal.h \
  quant/quant.h core/status.h

quant/quant_internal.h:

quant/quant.h:

core/status.h:
