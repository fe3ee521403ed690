// tests/test_h5.c — checkpoints/h5: write/read round trip checked by h5py (tests/oracle_h5.py),
// h5py-written files read by C, every validation error, corrupt/truncated files, fault injection.
#include "tests/testlib.h"
#include "checkpoints/h5.h"
#include "core/check.h"
#include <dirent.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *python(void) { const char *p = getenv("PYTHON"); return p ? p : "/usr/bin/python3"; }
static char dir[512];

static const char *tpath(const char *name) {
    static char buf[4][1024]; static int k = 0;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

// ---- the reference content (the same formulas are in tests/oracle_h5.py) ----------------------
static float w[3 * 5 * 7];
static double b[4] = {M_PI, -1.0 / 3.0, 1e-300, 1.7976931348623157e308};
static int32_t ids[6];
static int64_t counts[5] = {0, -1, ((int64_t)1 << 40) + 1, INT64_MAX, INT64_MIN};
static uint8_t mask[10];
static float *big;

static void fill_reference(void) {
    for (int i = 0; i < 105; i++) w[i] = (float)(i * 0.375 - 11.5);
    for (int i = 0; i < 6; i++) ids[i] = i * i - 7;
    ids[0] = INT32_MIN;
    for (int i = 0; i < 10; i++) mask[i] = (uint8_t)(i * 29 % 256);
    big = xmalloc(300 * 1000 * sizeof(float));
    for (int j = 0; j < 300 * 1000; j++) big[j] = (float)((j % 1000) * 0.5 - (j / 1000));
}

static int write_reference(const char *path, qp_status *st) {
    qh5_file *f = qh5_create(path, st);
    if (!f) return -1;
    int64_t dw[3] = {3, 5, 7}, db[1] = {4}, di[2] = {2, 3}, dc[1] = {5}, dm[1] = {10}, dbig[2] = {300, 1000}, de[2] = {0, 4};
    qh5_make_groups(f, "model/layers/0", st);
    qh5_attr_set_str(f, "/", "format", "qpeft-test", st);
    qh5_attr_set_str(f, "", "note", "na\xc3\xafve \xe2\x9c\x93", st);
    qh5_attr_set_i64(f, "/", "version", 3, st);
    qh5_attr_set_f64(f, "/", "lr", 2.385e-4, st);
    qh5_attr_set_str(f, "model/layers/0", "name", "layer zero", st);
    qh5_write(f, "model/layers/0/w", QH5_F32, 3, dw, w, st);
    qh5_write(f, "/model/b", QH5_F64, 1, db, b, st);
    qh5_attr_set_str(f, "model/b", "units", "nats", st);
    qh5_write(f, "ids", QH5_I32, 2, di, ids, st);
    qh5_write(f, "counts", QH5_I64, 1, dc, counts, st);
    qh5_write(f, "mask", QH5_U8, 1, dm, mask, st);
    qh5_write(f, "big", QH5_F32, 2, dbig, big, st);
    qh5_write(f, "empty", QH5_F32, 2, de, NULL, st);
    return qh5_commit(f, st);  // sticky errors: the first failure above (if any) is reported here
}

static void test_roundtrip(void) {
    const char *path = tpath("ref.h5");
    qp_status st = {0};
    CHECK(write_reference(path, &st) == 0, "write reference file %s", st.msg);
    // Superblock version 3 = the v1.10 format with checksummed metadata (byte 8 after the signature).
    size_t len = 0;
    unsigned char *raw = (unsigned char *)qp_read_file(path, &len);
    CHECK(len > 9 && memcmp(raw, "\x89HDF\r\n\x1a\n", 8) == 0 && raw[8] == 3, "superblock version %d (want 3)", len > 9 ? raw[8] : -1);
    free(raw);
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s tests/oracle_h5.py check %s", python(), path);
    fflush(stdout);
    int rc = system(cmd);
    REQUIRE(rc == 0, "h5py oracle ran (rc=%d)", rc);

    qh5_file *f = qh5_open(path, &st);
    CHECK(f != NULL, "reopen for reading %s", st.msg);
    if (!f) return;
    float w2[105]; double b2[4]; int32_t i2[6]; int64_t c2[5]; uint8_t m2[10];
    float *big2 = xmalloc(300 * 1000 * sizeof(float));
    int64_t dw[3] = {3, 5, 7}, db[1] = {4}, di[2] = {2, 3}, dc[1] = {5}, dm[1] = {10}, dbig[2] = {300, 1000}, de[2] = {0, 4};
    CHECK(qh5_read(f, "model/layers/0/w", QH5_F32, 3, dw, w2, &st) == 0 && !memcmp(w, w2, sizeof w), "C reads float32 (3,5,7)");
    CHECK(qh5_read(f, "/model/b", QH5_F64, 1, db, b2, &st) == 0 && !memcmp(b, b2, sizeof b), "C reads float64 (4,) bit-exact");
    CHECK(qh5_read(f, "ids", QH5_I32, 2, di, i2, &st) == 0 && !memcmp(ids, i2, sizeof ids), "C reads int32 (2,3)");
    CHECK(qh5_read(f, "counts", QH5_I64, 1, dc, c2, &st) == 0 && !memcmp(counts, c2, sizeof counts), "C reads int64 (5,)");
    CHECK(qh5_read(f, "mask", QH5_U8, 1, dm, m2, &st) == 0 && !memcmp(mask, m2, sizeof mask), "C reads uint8 (10,)");
    CHECK(qh5_read(f, "big", QH5_F32, 2, dbig, big2, &st) == 0 && !memcmp(big, big2, 300 * 1000 * sizeof(float)),
          "C reads float32 (300,1000) over several chunks");
    CHECK(qh5_read(f, "empty", QH5_F32, 2, de, NULL, &st) == 0, "C reads empty (0,4) %s", st.msg);
    qh5_type ty; int rank; int64_t dims[QH5_MAX_RANK];
    CHECK(qh5_info(f, "model/layers/0/w", &ty, &rank, dims, &st) == 0 && ty == QH5_F32 && rank == 3 && dims[0] == 3 &&
          dims[1] == 5 && dims[2] == 7, "qh5_info gives float32 (3,5,7)");
    char s[64]; int64_t v = 0; double x = 0;
    CHECK(qh5_attr_get_str(f, "/", "format", s, sizeof s, &st) == 0 && !strcmp(s, "qpeft-test"), "string attr on root");
    CHECK(qh5_attr_get_str(f, "/", "note", s, sizeof s, &st) == 0 && !strcmp(s, "na\xc3\xafve \xe2\x9c\x93"), "UTF-8 string attr");
    CHECK(qh5_attr_get_i64(f, "/", "version", &v, &st) == 0 && v == 3, "int64 attr");
    CHECK(qh5_attr_get_f64(f, "/", "lr", &x, &st) == 0 && x == 2.385e-4, "float64 attr");
    CHECK(qh5_attr_get_str(f, "model/layers/0", "name", s, sizeof s, &st) == 0 && !strcmp(s, "layer zero"), "group attr");
    CHECK(qh5_attr_get_str(f, "model/b", "units", s, sizeof s, &st) == 0 && !strcmp(s, "nats"), "dataset attr");
    CHECK(qh5_exists(f, "model/layers/0/w") && qh5_exists(f, "/model") && !qh5_exists(f, "model/x") && !qh5_exists(f, "nope/a/b"),
          "qh5_exists on present, absent and absent-parent paths");
    char **names; size_t n;
    CHECK(qh5_list(f, "/", &names, &n, &st) == 0 && n == 6 && !strcmp(names[0], "big") && !strcmp(names[5], "model"),
          "list root: %zu children, sorted", n);
    qh5_free_list(names, n);

    // ---- validation errors: each one line naming file, object, expected and found ----
    int64_t d5[1] = {5}, d22[2] = {2, 2};
    st.failed = 0;
    CHECK(qh5_read(f, "model/b", QH5_F64, 1, d5, b2, &st) == -1 && strstr(st.msg, path) && strstr(st.msg, "model/b") &&
          strstr(st.msg, "expected shape (5,), found (4,)"), "wrong shape: %s", st.msg);
    CHECK(qh5_read(f, "model/b", QH5_F64, 2, d22, b2, &st) == -1 && strstr(st.msg, "expected shape (2,2), found (4,)"),
          "wrong rank: %s", st.msg);
    CHECK(qh5_read(f, "model/nope", QH5_F64, 1, db, b2, &st) == -1 && strstr(st.msg, "/model/nope") && strstr(st.msg, "found nothing"),
          "missing dataset: %s", st.msg);
    CHECK(qh5_read(f, "nope/deeper/x", QH5_F64, 1, db, b2, &st) == -1 && strstr(st.msg, "found nothing"), "missing parent: %s", st.msg);
    CHECK(qh5_read(f, "ids", QH5_F32, 2, di, w2, &st) == -1 && strstr(st.msg, "expected float32, found int32"), "wrong type: %s", st.msg);
    CHECK(qh5_read(f, "counts", QH5_I32, 1, dc, i2, &st) == -1 && strstr(st.msg, "expected int32, found int64"), "wrong int size: %s", st.msg);
    CHECK(qh5_read(f, "model", QH5_F32, 1, dc, w2, &st) == -1 && strstr(st.msg, "found a group"), "group as dataset: %s", st.msg);
    CHECK(qh5_attr_get_str(f, "/", "version", s, sizeof s, &st) == -1 && strstr(st.msg, "expected a string, found int64"),
          "attr wrong type: %s", st.msg);
    CHECK(qh5_attr_get_i64(f, "/", "missing", &v, &st) == -1 && strstr(st.msg, "'missing'"), "attr missing: %s", st.msg);
    CHECK(qh5_attr_get_str(f, "/", "format", s, 5, &st) == -1 && strstr(st.msg, "at most 4 bytes"), "attr too long: %s", st.msg);
    CHECK(qh5_list(f, "big", &names, &n, &st) == -1 && strstr(st.msg, "expected a group, found a dataset"), "list a dataset: %s", st.msg);
    CHECK(strchr(st.msg, '\n') == NULL, "messages are one line");
    qh5_close(f);

    // ---- in-memory image ----
    raw = (unsigned char *)qp_read_file(path, &len);
    f = qh5_open_image(raw, len, "image:ref", &st);
    CHECK(f && qh5_read(f, "big", QH5_F32, 2, dbig, big2, &st) == 0 && !memcmp(big, big2, 300 * 1000 * sizeof(float)) &&
          qh5_attr_get_i64(f, "/", "version", &v, &st) == 0 && v == 3, "open from memory image and read %s", st.msg);
    qh5_close(f);
    f = qh5_open_image(raw, len / 2, "image:half", &st);
    CHECK(!f && strstr(st.msg, "image:half"), "truncated memory image rejected: %s", st.msg);
    free(raw);
    free(big2);
}

// ---- files written by h5py -----------------------------------------------------------------------
static void test_read_h5py(void) {
    const char *path = tpath("from_h5py.h5");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "%s tests/oracle_h5.py write %s", python(), path);
    fflush(stdout);
    CHECK(system(cmd) == 0, "h5py wrote %s", path);
    qp_status st = {0};
    qh5_file *f = qh5_open(path, &st);
    CHECK(f != NULL, "open h5py file %s", st.msg);
    if (!f) return;
    char s[64]; int64_t v = 0; double x = 0, d[4];
    int64_t d22[2] = {2, 2}, d3[1] = {3}, d2[1] = {2};
    CHECK(qh5_attr_get_str(f, "/", "s_vlen", s, sizeof s, &st) == 0 && !strcmp(s, "hello from h5py"), "h5py vlen str attr");
    CHECK(qh5_attr_get_str(f, "/", "s_fixed", s, sizeof s, &st) == 0 && !strcmp(s, "fixed!"), "h5py fixed-length str attr '%s'", s);
    CHECK(qh5_attr_get_i64(f, "/", "n32", &v, &st) == 0 && v == -7, "h5py int32 attr as int64");
    CHECK(qh5_attr_get_f64(f, "/", "x", &x, &st) == 0 && x == 0.5, "h5py float attr");
    CHECK(qh5_read(f, "d_be", QH5_F64, 2, d22, d, &st) == 0 && d[0] == 1.5 && d[1] == 2.5 && d[2] == 3.5 && d[3] == -4.5,
          "big-endian float64 converted %s", st.msg);
    float h[3];
    CHECK(qh5_read(f, "half", QH5_F32, 1, d3, h, &st) == -1 && strstr(st.msg, "expected float32, found float16"), "float16 rejected: %s", st.msg);
    CHECK(qh5_read(f, "u16", QH5_I32, 1, d2, h, &st) == -1 && strstr(st.msg, "found uint16"), "uint16 rejected: %s", st.msg);
    CHECK(qh5_read(f, "scalar", QH5_F32, 1, d2, h, &st) == -1 && strstr(st.msg, "found 0"), "scalar dataset rejected: %s", st.msg);
    char **names; size_t n;
    CHECK(qh5_list(f, "g", &names, &n, &st) == 0 && n == 3 && !strcmp(names[0], "a") && !strcmp(names[1], "b") &&
          !strcmp(names[2], "c"), "list group children sorted by name");
    qh5_free_list(names, n);
    qh5_close(f);
}

// ---- corrupt files: one clear status, nothing printed by HDF5 ----------------------------------
static int stderr_fd = -1;
static char errlog[1024];
static void stderr_capture(void) {
    fflush(stderr);
    snprintf(errlog, sizeof errlog, "%s", tpath("stderr.log"));
    stderr_fd = dup(2);
    int fd = open(errlog, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 2);
    close(fd);
}
static int64_t stderr_release(void) {
    fflush(stderr);
    dup2(stderr_fd, 2);
    close(stderr_fd);
    return qp_file_size(errlog);
}

// A file fails "cleanly" if open fails, or some read of the reference content fails.
static int fails_cleanly(const char *path, char *msg, size_t cap) {
    qp_status st = {0};
    qh5_file *f = qh5_open(path, &st);
    if (f) {
        float *tmp = xmalloc(300 * 1000 * sizeof(float));
        int64_t dw[3] = {3, 5, 7}, dbig[2] = {300, 1000};
        char s[64];
        if (qh5_read(f, "model/layers/0/w", QH5_F32, 3, dw, tmp, &st) == 0 && qh5_read(f, "big", QH5_F32, 2, dbig, tmp, &st) == 0)
            qh5_attr_get_str(f, "/", "format", s, sizeof s, &st);
        free(tmp);
        qh5_close(f);
    }
    snprintf(msg, cap, "%s", st.msg);
    return st.failed && strstr(st.msg, path) && !strchr(st.msg, '\n');
}

static void write_bytes(const char *path, const void *p, size_t n) {
    FILE *fp = xfopen(path, "wb");
    if (n) xfwrite(p, 1, n, fp, path);
    xfclose(fp, path);
}

static void test_corrupt(void) {
    size_t len = 0;
    char *raw = qp_read_file(tpath("ref.h5"), &len);
    char msg[1100];
    size_t cuts[] = {0, 7, 9, 100, 1000, 5000, len / 2, len - 4096, len - 100, len - 1};
    stderr_capture();
    int ok_all = 1;
    char first_bad[1200] = "";
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        const char *p = tpath("cut.h5");
        write_bytes(p, raw, cuts[i]);
        if (!fails_cleanly(p, msg, sizeof msg) && ok_all) { ok_all = 0; snprintf(first_bad, sizeof first_bad, "cut %zu: %s", cuts[i], msg); }
    }
    int64_t errbytes = stderr_release();
    CHECK(ok_all, "truncated copies (10 cuts from 0 to len-1 of %zu) each fail with a status naming the file %s", len, first_bad);
    CHECK(errbytes == 0, "HDF5 printed nothing to stderr for truncated files (%lld bytes)", (long long)errbytes);
    write_bytes(tpath("cut.h5"), raw, len - 1);
    stderr_capture();
    fails_cleanly(tpath("cut.h5"), msg, sizeof msg);
    stderr_release();
    CHECK(strstr(msg, "truncated") != NULL, "a file cut by one byte is reported as truncated: %s", msg);

    // Garbage, and an HDF5 signature followed by garbage.
    unsigned char junk[4096];
    for (int i = 0; i < 4096; i++) junk[i] = (unsigned char)(i * 2654435761u >> 13);
    stderr_capture();
    write_bytes(tpath("junk.h5"), junk, sizeof junk);
    int g1 = fails_cleanly(tpath("junk.h5"), msg, sizeof msg);
    printf("# garbage file message: %s\n", msg);
    memcpy(junk, "\x89HDF\r\n\x1a\n\x03", 9);
    write_bytes(tpath("junk.h5"), junk, sizeof junk);
    int g2 = fails_cleanly(tpath("junk.h5"), msg, sizeof msg);
    // Flip one byte in the middle (inside the 1.2 MB "big" dataset): the Fletcher32 chunk checksum catches it.
    raw[len / 2] ^= 0x40;
    write_bytes(tpath("flip.h5"), raw, len);
    int g3 = fails_cleanly(tpath("flip.h5"), msg, sizeof msg);
    errbytes = stderr_release();
    CHECK(g1, "garbage file gives a clear status");
    CHECK(g2, "HDF5 signature + garbage gives a clear status");
    CHECK(g3, "flipped data byte detected: %s", msg);
    CHECK(errbytes == 0, "HDF5 printed nothing to stderr for garbage files (%lld bytes)", (long long)errbytes);
    qp_status st = {0};
    CHECK(!qh5_open(tpath("does-not-exist.h5"), &st) && strstr(st.msg, "No such file"), "missing file: %s", st.msg);
    free(raw);
}

// ---- writer misuse and sticky errors -------------------------------------------------------------
static void test_writer_errors(void) {
    qp_status st = {0};
    const char *path = tpath("sticky.h5");
    write_bytes(path, "old", 3);
    qh5_file *f = qh5_create(path, &st);
    int64_t d1[1] = {2};
    float v[2] = {1, 2};
    qh5_write(f, "a/x", QH5_F32, 1, d1, v, &st);
    CHECK(qh5_write(f, "a/x", QH5_F32, 1, d1, v, &st) == -1 && strstr(st.msg, "existing object"), "duplicate dataset: %s", st.msg);
    qp_status st2 = {0};
    CHECK(qh5_write(f, "b", QH5_F32, 1, d1, v, &st2) == -1 && strstr(st2.msg, "existing object"), "error is sticky: %s", st2.msg);
    CHECK(qh5_commit(f, &st2) == -1 && strstr(st2.msg, "a/x"), "commit after an error fails: %s", st2.msg);
    size_t len = 0;
    char *c = qp_read_file(path, &len);
    CHECK(len == 3 && !memcmp(c, "old", 3), "old file kept after a refused commit");
    free(c);
    f = qh5_create(path, &st);
    st.failed = 0;
    CHECK(qh5_write(f, "r0", QH5_F32, 0, d1, v, &st) == -1 && strstr(st.msg, "rank"), "rank 0 rejected: %s", st.msg);
    qh5_abort(f);
    f = qh5_create(path, &st);
    qh5_write(f, "x", QH5_F32, 1, d1, v, &st);
    st.failed = 0;
    CHECK(qh5_write(f, "x/y", QH5_F32, 1, d1, v, &st) == -1 && strstr(st.msg, "expected a group, found a dataset"),
          "dataset under a dataset: %s", st.msg);
    qh5_abort(f);
    f = qh5_create(path, &st);
    st.failed = 0;
    CHECK(qh5_make_groups(f, "a//b", &st) == -1 && strstr(st.msg, "empty component"), "empty path component: %s", st.msg);
    qh5_abort(f);
    st.failed = 0;
    CHECK(!qh5_create(tpath("no/such/dir/x.h5"), &st) && strstr(st.msg, "cannot create temporary file"), "unwritable dir: %s", st.msg);
}

// ---- fault injection: the final name is always a whole file ----------------------------------------
static int write_generation(const char *path, int64_t gen, qp_status *st) {
    qh5_file *f = qh5_create(path, st);
    if (!f) return -1;
    int64_t d1[1] = {1}, dv[2] = {2, 3};
    float v[6] = {1, 2, 3, 4, 5, 6};
    qh5_make_groups(f, "state/optim", st);
    qh5_write(f, "state/gen", QH5_I64, 1, d1, &gen, st);
    qh5_write(f, "state/optim/m", QH5_F32, 2, dv, v, st);
    qh5_attr_set_i64(f, "/", "gen", gen, st);
    qh5_attr_set_str(f, "state", "kind", "test", st);
    return qh5_commit(f, st);
}

static int64_t read_generation(const char *path) {
    qp_status st = {0};
    qh5_file *f = qh5_open(path, &st);
    if (!f) return -1;
    int64_t g = -1, a = -2, d1[1] = {1};
    qh5_read(f, "state/gen", QH5_I64, 1, d1, &g, &st);
    qh5_attr_get_i64(f, "/", "gen", &a, &st);
    qh5_close(f);
    return (st.failed || g != a) ? -1 : g;
}

// Number of "<base>.tmp.*" files in the test directory.
static int count_tmp(const char *base) {
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    size_t bl = strlen(base);
    while ((e = readdir(d)))
        if (!strncmp(e->d_name, base, bl) && !strncmp(e->d_name + bl, ".tmp.", 5)) n++;
    closedir(d);
    return n;
}

static void test_fault_injection(void) {
    const char *path = tpath("fault.h5");
    qp_status st = {0};
    CHECK(write_generation(path, 1, &st) == 0 && read_generation(path) == 1, "generation 1 written %s", st.msg);
    int total = -1, bad = 0, new_on_fail = -1;
    char why[1200] = "";
    for (int k = 1; k <= 40 && total < 0; k++) {
        char kv[16];
        snprintf(kv, sizeof kv, "%d", k);
        setenv("QPEFT_FAULT_WRITE", kv, 1);
        qp_status s2 = {0};
        int rc = write_generation(path, 2, &s2);
        unsetenv("QPEFT_FAULT_WRITE");
        int64_t gen = read_generation(path);
        int tmp = count_tmp("fault.h5");
        if (rc == 0) { total = k - 1; if (gen != 2) bad = 1; break; }
        char want[64];
        snprintf(want, sizeof want, "injected write fault at step %d", k);
        if (!strstr(s2.msg, want) || tmp != 0 || (gen != 1 && gen != 2)) {
            bad = 1;
            snprintf(why, sizeof why, "k=%d gen=%lld tmp=%d msg=%s", k, (long long)gen, tmp, s2.msg);
        }
        if (gen == 2) { if (new_on_fail >= 0) bad = 1; new_on_fail = k; }
    }
    CHECK(total > 0 && !bad, "QPEFT_FAULT_WRITE=k for each of the %d writer steps: final name is the whole old file, no temp left %s", total, why);
    CHECK(new_on_fail == total, "only the last step (directory fsync, after the rename) fails with the new file in place (k=%d of %d)",
          new_on_fail, total);
    printf("# last fault message seen: %s\n", why[0] ? why : "(all as expected)");

    // QPEFT_FAULT_ABORT=k: a crash at each step leaves the old (or, after the rename, the new) whole file.
    int abort_bad = 0;
    char abort_why[256] = "";
    for (int k = 1; k <= total; k++) {
        write_generation(path, 1, &st);
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            struct rlimit no_core = {0, 0};
            setrlimit(RLIMIT_CORE, &no_core);
            char kv[16];
            snprintf(kv, sizeof kv, "%d", k);
            setenv("QPEFT_FAULT_ABORT", kv, 1);
            qp_status cs = {0};
            _exit(write_generation(path, 2, &cs) == 0 ? 0 : 3);
        }
        int status = 0;
        waitpid(pid, &status, 0);
        int64_t gen = read_generation(path);
        int64_t want = k < total ? 1 : 2;  // the last step (directory fsync) runs after the rename
        char stale[1100];
        snprintf(stale, sizeof stale, "%s.tmp.%ld", path, (long)pid);
        int had_tmp = access(stale, F_OK) == 0;
        unlink(stale);
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGABRT || gen != want || count_tmp("fault.h5") != 0) {
            abort_bad = 1;
            snprintf(abort_why, sizeof abort_why, "k=%d status=%d gen=%lld", k, status, (long long)gen);
        }
        (void)had_tmp;
    }
    CHECK(total > 0 && !abort_bad, "QPEFT_FAULT_ABORT=k for each of the %d steps: child aborted, final name whole %s", total, abort_why);
}

int main(void) {
    const char *t = getenv("TEST_TMP");
    snprintf(dir, sizeof dir, "%s/h5test.%ld", t ? t : "/tmp", (long)getpid());
    char cmd[1100];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd) != 0) return 1;
    fill_reference();
    test_roundtrip();
    test_read_h5py();
    test_corrupt();
    test_writer_errors();
    test_fault_injection();
    free(big);
    if (!getenv("QPEFT_KEEP_TMP")) { snprintf(cmd, sizeof cmd, "rm -rf %s", dir); if (system(cmd) != 0) return 1; }
    return tl_finish();
}
