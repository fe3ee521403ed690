build-fuzz/obj/data/tsv.o: data/tsv.c data/tsv.h core/status.h \
  core/check.h

data/tsv.h:

core/status.h:

core/check.h:
