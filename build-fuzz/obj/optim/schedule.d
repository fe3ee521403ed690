build-fuzz/obj/optim/schedule.o: optim/schedule.c optim/schedule.h \
  core/status.h

optim/schedule.h:

core/status.h:
