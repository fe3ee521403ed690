build-fuzz/obj/init/calib.o: init/calib.c init/calib.h core/check.h \
  core/la.h core/status.h

init/calib.h:

core/check.h:

core/la.h:

core/status.h:
