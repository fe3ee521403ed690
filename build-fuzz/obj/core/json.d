build-fuzz/obj/core/json.o: core/json.c core/json.h core/status.h \
  core/check.h

core/json.h:

core/status.h:

core/check.h:
