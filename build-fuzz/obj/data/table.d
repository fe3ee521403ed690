build-fuzz/obj/data/table.o: data/table.c data/dataset.h core/status.h \
  data/tokenizer.h data/tsv.h core/check.h

data/dataset.h:

core/status.h:

data/tokenizer.h:

data/tsv.h:

core/check.h:
