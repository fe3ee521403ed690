build-fuzz/obj/quant/nf.o: quant/nf.c quant/quant_internal.h \
  quant/quant.h core/status.h core/check.h

quant/quant_internal.h:

quant/quant.h:

core/status.h:

core/check.h:
