build-fuzz/obj/model/load_hf.o: model/load_hf.c model/weights.h \
  core/status.h model/config.h model/weights_internal.h core/check.h \
  core/json.h quant/quant.h

model/weights.h:

core/status.h:

model/config.h:

model/weights_internal.h:

core/check.h:

core/json.h:

quant/quant.h:
