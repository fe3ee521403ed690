build-fuzz/obj/model/config.o: model/config.c model/config.h \
  core/status.h model/weights.h core/check.h

model/config.h:

core/status.h:

model/weights.h:

core/check.h:
