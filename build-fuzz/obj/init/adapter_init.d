build-fuzz/obj/init/adapter_init.o: init/adapter_init.c \
  init/adapter_init.h core/rng.h core/status.h init/calib.h \
  quant/quant.h core/check.h core/la.h

init/adapter_init.h:

core/rng.h:

core/status.h:

init/calib.h:

quant/quant.h:

core/check.h:

core/la.h:
