build-fuzz/obj/model/weights.o: model/weights.c model/weights.h \
  core/status.h model/config.h model/weights_internal.h core/check.h

model/weights.h:

core/status.h:

model/config.h:

model/weights_internal.h:

core/check.h:
