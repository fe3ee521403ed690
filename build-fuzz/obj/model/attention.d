build-fuzz/obj/model/attention.o: model/attention.c model/layers.h \
  core/check.h core/la.h core/status.h

model/layers.h:

core/check.h:

core/la.h:

core/status.h:
