// data/tsv.h — a reader for delimited text files as the GLUE release writes them: split on the
// delimiter only ('"' is data unless CSV quoting is asked for), UTF-8 BOM skipped, line numbers
// kept for messages, last line with or without '\n'. Tested by tests/test_data.c.
#ifndef QP_DATA_TSV_H
#define QP_DATA_TSV_H
#include <stddef.h>
#include <stdint.h>
#include "core/status.h"

typedef struct {
    char path[1024];
    char *buf;      // the whole file, NUL-terminated; rows are split in place (fields point here)
    size_t len, pos;
    int64_t line;   // 1-based number of the line last returned by tsv_next
    char delim;     // '\t' for TSV, ',' for CSV
    int csv_quotes; // 1: a field starting with '"' runs to the closing '"', "" is a literal quote
} tsv_reader;

// Read `path` whole. A missing/unreadable file returns -1 with st naming it.
int tsv_open(tsv_reader *r, const char *path, char delim, int csv_quotes, qp_status *st);

// Split the next non-empty line into fields (a trailing '\r' is dropped; empty lines are skipped).
// Stores at most `cap` field pointers and returns the line's true field count (> cap means the
// line had too many), 0 at end of file, -1 for an unterminated CSV quote (st set, with file:line).
int tsv_next(tsv_reader *r, char **fields, int cap, qp_status *st);

// Takes ownership of the buffer (the caller frees it): fields stay valid after tsv_close.
char *tsv_take_buffer(tsv_reader *r);
void tsv_close(tsv_reader *r);
#endif
