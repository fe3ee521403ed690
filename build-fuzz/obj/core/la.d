build-fuzz/obj/core/la.o: core/la.c core/la.h core/status.h core/check.h \
  /usr/include/x86_64-linux-gnu/openblas-openmp/cblas.h \
  /usr/include/x86_64-linux-gnu/openblas-openmp/openblas_config.h

core/la.h:

core/status.h:

core/check.h:

/usr/include/x86_64-linux-gnu/openblas-openmp/cblas.h:

/usr/include/x86_64-linux-gnu/openblas-openmp/openblas_config.h:
