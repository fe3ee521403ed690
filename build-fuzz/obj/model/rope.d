build-fuzz/obj/model/rope.o: model/rope.c model/layers.h core/check.h

model/layers.h:

core/check.h:
