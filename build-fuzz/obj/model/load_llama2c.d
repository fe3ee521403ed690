build-fuzz/obj/model/load_llama2c.o: model/load_llama2c.c model/weights.h \
  core/status.h model/config.h model/weights_internal.h core/check.h

model/weights.h:

core/status.h:

model/config.h:

model/weights_internal.h:

core/check.h:
