build-fuzz/obj/quant/intk.o: quant/intk.c quant/quant_internal.h \
  quant/quant.h core/status.h core/check.h

quant/quant_internal.h:

quant/quant.h:

core/status.h:

core/check.h:
