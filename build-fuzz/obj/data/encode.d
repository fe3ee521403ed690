build-fuzz/obj/data/encode.o: data/encode.c data/dataset.h core/status.h \
  data/tokenizer.h core/check.h

data/dataset.h:

core/status.h:

data/tokenizer.h:

core/check.h:
