build-fuzz/obj/data/text.o: data/text.c data/text.h core/status.h \
  data/tokenizer.h core/check.h

data/text.h:

core/status.h:

data/tokenizer.h:

core/check.h:
