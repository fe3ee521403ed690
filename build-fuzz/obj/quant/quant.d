build-fuzz/obj/quant/quant.o: quant/quant.c quant/quant_internal.h \
  quant/quant.h core/status.h core/check.h

quant/quant_internal.h:

quant/quant.h:

core/status.h:

core/check.h:
