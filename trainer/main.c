// trainer/main.c — the qpeft CLI entry: picks OpenBLAS kernels, dispatches verbs.
#include "core/check.h"
#include "core/la.h"
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
    la_select_kernels(argv);
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("usage: qpeft <verb> [options]\n");
        return argc < 2 ? 2 : 0;
    }
    qp_die("unknown verb '%s' (try 'qpeft --help')", argv[1]);
}
