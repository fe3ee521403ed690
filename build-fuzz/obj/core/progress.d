build-fuzz/obj/core/progress.o: core/progress.c core/progress.h \
  core/check.h

core/progress.h:

core/check.h:
