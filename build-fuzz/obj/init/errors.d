build-fuzz/obj/init/errors.o: init/errors.c init/errors.h init/calib.h \
  core/check.h core/la.h core/status.h

init/errors.h:

init/calib.h:

core/check.h:

core/la.h:

core/status.h:
