build-fuzz/obj/core/status.o: core/status.c core/status.h core/check.h

core/status.h:

core/check.h:
