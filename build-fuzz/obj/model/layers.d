build-fuzz/obj/model/layers.o: model/layers.c model/layers.h core/check.h

model/layers.h:

core/check.h:
