build-fuzz/obj/optim/adamw.o: optim/adamw.c optim/adamw.h core/status.h \
  core/check.h

optim/adamw.h:

core/status.h:

core/check.h:
