build-fuzz/obj/trainer/metrics.o: trainer/metrics.c trainer/metrics.h \
  core/check.h

trainer/metrics.h:

core/check.h:
