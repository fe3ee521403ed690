build-fuzz/obj/model/heads.o: model/heads.c model/layers.h core/check.h

model/layers.h:

core/check.h:
