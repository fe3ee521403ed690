build-fuzz/obj/quant/io.o: quant/io.c quant/quant_internal.h \
  quant/quant.h core/status.h core/check.h

quant/quant_internal.h:

quant/quant.h:

core/status.h:

core/check.h:
