build-fuzz/obj/quant/mxint.o: quant/mxint.c quant/quant_internal.h \
  quant/quant.h core/status.h core/check.h

quant/quant_internal.h:

quant/quant.h:

core/status.h:

core/check.h:
