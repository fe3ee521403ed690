build-fuzz/fuzz/fuzz_json: tests/fuzz/fuzz_json.c tests/fuzz/fuzz_util.h \
  core/json.h core/status.h

tests/fuzz/fuzz_util.h:

core/json.h:

core/status.h:
