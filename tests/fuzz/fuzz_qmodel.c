// tests/fuzz/fuzz_qmodel.c — libFuzzer harness for model/qmodel.c (and quant_tensor_read under
// it): the input is written to a scratch file and read as a qpeft .qm file, header first, then
// whole with its packed bases. Seeds: tiny .qm files written by `qpeft quantize` in several
// formats (tests/fuzz/make_seeds.sh).
#include "tests/fuzz/fuzz_util.h"
#include "model/qmodel.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_path("model.qm");
    fz_write(path, data, size);
    ModelConfig c;
    unsigned mask;
    quant_format fmt;
    qp_status st = {0};
    int hdr_ok = qmodel_read_header(path, &c, &mask, &fmt, &st) == 0;
    if (!hdr_ok && (!st.msg[0] || strchr(st.msg, '\n'))) abort();
    ModelWeights w;
    QuantTensor **qb = NULL;
    qp_status st2 = {0};
    if (qmodel_load(path, &c, &w, &qb, &mask, &st2) == 0) {
        if (!hdr_ok) abort();  // a loadable file has a valid header
        (void)weights_hash(&w, &c);
        qmodel_free_bases(qb, c.n_layers);
        weights_free(&w);
    } else if (!st2.msg[0] || strchr(st2.msg, '\n')) {
        abort();
    }
    return 0;
}
