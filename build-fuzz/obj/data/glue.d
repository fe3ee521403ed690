build-fuzz/obj/data/glue.o: data/glue.c data/glue.h data/dataset.h \
  core/status.h data/tokenizer.h

data/glue.h:

data/dataset.h:

core/status.h:

data/tokenizer.h:
