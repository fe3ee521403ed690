build-fuzz/obj/data/sp_shim.o: data/sp_shim.cpp data/tokenizer.h \
  core/status.h

data/tokenizer.h:

core/status.h:
