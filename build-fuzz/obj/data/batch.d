build-fuzz/obj/data/batch.o: data/batch.c data/batch.h core/rng.h \
  core/status.h data/dataset.h data/tokenizer.h core/check.h

data/batch.h:

core/rng.h:

core/status.h:

data/dataset.h:

data/tokenizer.h:

core/check.h:
