build-fuzz/fuzz/fuzz_hf: tests/fuzz/fuzz_hf.c tests/fuzz/fuzz_util.h \
  model/weights.h core/status.h model/config.h

tests/fuzz/fuzz_util.h:

model/weights.h:

core/status.h:

model/config.h:
