build-fuzz/obj/core/check.o: core/check.c core/check.h

core/check.h:
