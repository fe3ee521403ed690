build-fuzz/obj/trainer/options.o: trainer/options.c trainer/options.h \
  core/check.h

trainer/options.h:

core/check.h:
