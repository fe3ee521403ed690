// quant/nf.c — absmax-table formats: NF4 (QLoRA), FP4 (bitsandbytes), NF3/NF2 (LoftQ tables),
// with optional bitsandbytes double quantization. Tested by tests/test_quant.c + oracle_quant.py.
#include "quant/quant_internal.h"
#include "core/check.h"
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

// ---- tables --------------------------------------------------------------------------------
// NF4 of QLoRA / bitsandbytes, as the float32 literals bitsandbytes ships. Code = index.
static const float NF4[16] = {
    -1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
    -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
    0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f, 0.33791524171829224f,
    0.44070982933044434f, 0.5626170039176941f, 0.7229568362236023f, 1.0f};

// A grid: the value of every code, and for quantization the distinct magnitudes/values in
// ascending order with the float32 midpoints between neighbours. code = rank of x among the
// midpoints (number of midpoints strictly below x), so a value exactly on a midpoint takes
// the LOWER neighbour, as bitsandbytes' `x > midpoint` decision trees do.
typedef struct {
    int ncode;            // 2^bits
    float val[16];        // value of each code
    int nrank;            // number of sorted grid points searched
    float mid[15];        // nrank-1 midpoints, ascending
    uint8_t code[16];     // code of each rank
    int sign_bit;         // FP4: search |x|, then OR 8 if x < 0 (sign-magnitude)
} nf_grid;

static nf_grid G_NF4, G_FP4, G_NF3, G_NF2;
static float DYNMAP[256], DYNMID[255];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

// torch.linspace(start, end, steps) in float32 as torch's CPU kernel computes it: step in
// float32, the first half counted up from start, the second half counted down from end.
static void linspace_f32(float *v, float start, float end, int steps) {
    float step = (end - start) / (float)(steps - 1);
    int half = steps / 2;
    for (int i = 0; i < steps; i++)
        v[i] = i < half ? start + step * (float)i : end - step * (float)(steps - i - 1);
}

// Standard normal quantile by bisection on Phi(x) = erfc(-x/sqrt2)/2 in double: slow, but
// simple and accurate to the last bits of a double, which is all the tables need.
static double normal_ppf(double p) {
    double lo = -40, hi = 40;
    for (int it = 0; it < 200; it++) {
        double m = 0.5 * (lo + hi);
        if (m == lo || m == hi) break;
        if (0.5 * erfc(-m / sqrt(2.0)) < p) lo = m; else hi = m;
    }
    return 0.5 * (lo + hi);
}

static int cmp_float(const void *a, const void *b) {
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

// LoftQ's create_normal_map(offset=0.9677083, symmetric=False, num_bits): 2^(b-1) positive
// quantiles ppf(linspace(offset, 0.5, 2^(b-1)+1)[:-1]), one zero, 2^(b-1)-1 negative ones
// -ppf(linspace(offset, 0.5, 2^(b-1))[:-1]); to float32, sorted, divided by the maximum.
static void build_normal_map(float *t, int bits) {
    int V = 1 << bits, n = 0;
    float ls[16];
    const float offset = 0.9677083f;
    linspace_f32(ls, offset, 0.5f, V / 2 + 1);
    for (int i = 0; i < V / 2; i++) t[n++] = (float)normal_ppf((double)ls[i]);
    t[n++] = 0.0f;
    linspace_f32(ls, offset, 0.5f, V / 2);
    for (int i = 0; i < V / 2 - 1; i++) t[n++] = (float)-normal_ppf((double)ls[i]);
    qsort(t, (size_t)V, sizeof *t, cmp_float);
    float mx = t[V - 1];
    for (int i = 0; i < V; i++) t[i] /= mx;
}

static void grid_from_sorted(nf_grid *g, const float *v, int n) {
    g->ncode = g->nrank = n;
    g->sign_bit = 0;
    for (int i = 0; i < n; i++) { g->val[i] = v[i]; g->code[i] = (uint8_t)i; }
    for (int i = 0; i + 1 < n; i++) g->mid[i] = (v[i] + v[i + 1]) / 2.0f;
}

// FP4 of bitsandbytes: code bit 3 = sign, codes 0..7 have magnitudes {0, 0.0625, 8, 12, 4,
// 6, 2, 3}/12. Quantization is sign-magnitude: sign bit = (x < 0), magnitude nearest.
static void build_fp4(nf_grid *g) {
    static const float num[8] = {0.0f, 0.0625f, 8.0f, 12.0f, 4.0f, 6.0f, 2.0f, 3.0f};
    static const uint8_t by_mag[8] = {0, 1, 6, 7, 4, 5, 2, 3};  // codes in ascending magnitude
    g->ncode = 16; g->nrank = 8; g->sign_bit = 1;
    for (int c = 0; c < 8; c++) { g->val[c] = num[c] / 12.0f; g->val[c + 8] = -g->val[c]; }
    for (int i = 0; i < 8; i++) g->code[i] = by_mag[i];
    for (int i = 0; i < 7; i++) g->mid[i] = (g->val[by_mag[i]] + g->val[by_mag[i + 1]]) / 2.0f;
}

// bitsandbytes create_dynamic_map(signed=True, max_exponent_bits=7, total_bits=8): for
// i = 0..6, the means of neighbouring points of linspace(0.1, 1, 2^i + 1) times 10^(i-6),
// positive and negative (127 each), plus 0 and 1.0; sorted ascending (256 values). float32
// throughout, as torch computes it.
static void build_dynamic_map(void) {
    static const float pow10[7] = {1e-6f, 1e-5f, 1e-4f, 1e-3f, 1e-2f, 1e-1f, 1.0f};
    float b[65];
    int n = 0;
    for (int i = 0; i < 7; i++) {
        int items = (1 << i) + 1;
        linspace_f32(b, 0.1f, 1.0f, items);
        for (int k = 0; k + 1 < items; k++) {
            float mean = (b[k] + b[k + 1]) / 2.0f;
            DYNMAP[n++] = pow10[i] * mean;
            DYNMAP[n++] = -(pow10[i] * mean);
        }
    }
    DYNMAP[n++] = 0.0f;
    DYNMAP[n++] = 1.0f;
    QP_ASSERT(n == 256);
    qsort(DYNMAP, 256, sizeof *DYNMAP, cmp_float);
    for (int i = 0; i < 255; i++) DYNMID[i] = (DYNMAP[i] + DYNMAP[i + 1]) / 2.0f;
}

static void build_tables(void) {
    float t[16];
    grid_from_sorted(&G_NF4, NF4, 16);
    build_fp4(&G_FP4);
    build_normal_map(t, 3); grid_from_sorted(&G_NF3, t, 8);
    build_normal_map(t, 2); grid_from_sorted(&G_NF2, t, 4);
    build_dynamic_map();
}

static const nf_grid *grid_of(quant_kind k) {
    pthread_once(&tables_once, build_tables);
    switch (k) {
    case QUANT_NF4: return &G_NF4;
    case QUANT_FP4: return &G_FP4;
    case QUANT_NF3: return &G_NF3;
    case QUANT_NF2: return &G_NF2;
    default: return NULL;
    }
}

const float *quant_nf_table(quant_kind kind, int *n) {
    const nf_grid *g = grid_of(kind);
    if (!g) return NULL;
    if (n) *n = g->ncode;
    return g->val;
}

const float *quant_dynamic_map(void) {
    pthread_once(&tables_once, build_tables);
    return DYNMAP;
}

// ---- code selection ----------------------------------------------------------------------
// Reference: walk up the midpoints.
static unsigned grid_code_ref(const nf_grid *g, float x) {
    float a = g->sign_bit ? fabsf(x) : x;
    int r = 0;
    while (r < g->nrank - 1 && a > g->mid[r]) r++;
    unsigned c = g->code[r];
    if (g->sign_bit && x < 0) c |= 8u;
    return c;
}

// Fast: branch-free count of midpoints below x (same definition).
static inline unsigned grid_code(const nf_grid *g, float x) {
    float a = g->sign_bit ? fabsf(x) : x;
    int r = 0;
    for (int i = 0; i < g->nrank - 1; i++) r += a > g->mid[i];
    return g->code[r] | (g->sign_bit && x < 0 ? 8u : 0u);
}

// Normalised value: w / absmax in float32; an all-zero block (absmax 0) normalises to 0.
static inline float nf_norm(float w, float absmax) { return absmax > 0.0f ? w / absmax : 0.0f; }

// ---- double quantization of the absmax (bitsandbytes compress_statistics) ----------------
// mean = fp32(sum(absmax) in double / n); d = absmax - mean (fp32); groups of 256 d values
// get s2 = max|d| and codes = nearest dynamic-map value of d / s2 (midpoint ties to the
// lower value); absmax~ = map[code] * s2 + mean. Element codes use the exact absmax, as
// bitsandbytes quantizes the weights before compressing the statistics.
static void dq_compress(QuantTensor *q, const float *absmax) {
    size_t n = (size_t)q->rows * q->nblk;
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += absmax[i];
    float mean = (float)(sum / (double)n);
    uint8_t *qa = q->sec[QUANT_SEC_SCALE];
    float *s2 = (float *)q->sec[QUANT_SEC_AUX];
    memcpy(q->sec[QUANT_SEC_AUX2], &mean, sizeof mean);
    for (size_t g0 = 0; g0 < n; g0 += QUANT_DQ_GROUP) {
        size_t g1 = g0 + QUANT_DQ_GROUP < n ? g0 + QUANT_DQ_GROUP : n;
        float m = 0.0f;
        for (size_t i = g0; i < g1; i++) m = fmaxf(m, fabsf(absmax[i] - mean));
        s2[g0 / QUANT_DQ_GROUP] = m;
        for (size_t i = g0; i < g1; i++) {
            float x = nf_norm(absmax[i] - mean, m);
            int r = 0;
            while (r < 255 && x > DYNMID[r]) r++;
            qa[i] = (uint8_t)r;
        }
    }
}

// The absmax a dequantizer uses for block b of row r.
static inline float block_absmax(const QuantTensor *q, int r, int b) {
    size_t i = (size_t)r * q->nblk + b;
    if (!q->fmt.double_quant) return ((const float *)q->sec[QUANT_SEC_SCALE])[i];
    const float *s2 = (const float *)q->sec[QUANT_SEC_AUX];
    float mean;
    memcpy(&mean, q->sec[QUANT_SEC_AUX2], sizeof mean);
    return DYNMAP[q->sec[QUANT_SEC_SCALE][i]] * s2[i / QUANT_DQ_GROUP] + mean;
}

static float block_max_abs(const float *x, int n) {
    float m = 0.0f;
    for (int j = 0; j < n; j++) m = fmaxf(m, fabsf(x[j]));
    return m;
}

// ---- reference paths ---------------------------------------------------------------------
void nf_quantize_ref(QuantTensor *q, const float *w) {
    const nf_grid *g = grid_of(q->fmt.kind);
    const int B = q->fmt.block, bits = q->fmt.bits;
    float *am = xmalloc((size_t)q->rows * q->nblk * sizeof *am);
    for (int r = 0; r < q->rows; r++) {
        uint8_t *row = q->sec[QUANT_SEC_CODES] + (size_t)r * q->row_bytes;
        for (int b = 0; b < q->nblk; b++) {
            int j0 = b * B, n = q->cols - j0 < B ? q->cols - j0 : B;
            const float *x = w + (size_t)r * q->cols + j0;
            float a = block_max_abs(x, n);
            am[(size_t)r * q->nblk + b] = a;
            for (int j = 0; j < n; j++) pack_set_ref(row, j0 + j, bits, grid_code_ref(g, nf_norm(x[j], a)));
        }
    }
    if (q->fmt.double_quant) dq_compress(q, am);
    else memcpy(q->sec[QUANT_SEC_SCALE], am, q->sec_bytes[QUANT_SEC_SCALE]);
    free(am);
}

void nf_dequantize_rows_ref(const QuantTensor *q, int r0, int r1, float *out) {
    const nf_grid *g = grid_of(q->fmt.kind);
    for (int r = r0; r < r1; r++) {
        const uint8_t *row = q->sec[QUANT_SEC_CODES] + (size_t)r * q->row_bytes;
        for (int j = 0; j < q->cols; j++) {
            float a = block_absmax(q, r, j / q->fmt.block);
            out[(size_t)(r - r0) * q->cols + j] = g->val[pack_get_ref(row, j, q->fmt.bits)] * a;
        }
    }
}

// ---- fast paths --------------------------------------------------------------------------
void nf_quantize(QuantTensor *q, const float *w) {
    const nf_grid *g = grid_of(q->fmt.kind);
    const int B = q->fmt.block, bits = q->fmt.bits, cols = q->cols;
    size_t nb = (size_t)q->rows * q->nblk;
    float *am = q->fmt.double_quant ? xmalloc(nb * sizeof *am) : (float *)q->sec[QUANT_SEC_SCALE];
#pragma omp parallel if ((size_t)q->rows * cols > QUANT_OMP_MIN)
    {
        uint8_t *codes = xmalloc((size_t)cols);
#pragma omp for schedule(static)
        for (int r = 0; r < q->rows; r++) {
            for (int b = 0; b < q->nblk; b++) {
                int j0 = b * B, n = cols - j0 < B ? cols - j0 : B;
                const float *x = w + (size_t)r * cols + j0;
                float a = block_max_abs(x, n);
                am[(size_t)r * q->nblk + b] = a;
                for (int j = 0; j < n; j++) codes[j0 + j] = (uint8_t)grid_code(g, nf_norm(x[j], a));
            }
            pack_codes(q->sec[QUANT_SEC_CODES] + (size_t)r * q->row_bytes, codes, cols, bits);
        }
        free(codes);
    }
    if (q->fmt.double_quant) { dq_compress(q, am); free(am); }
}

void nf_dequantize_rows(const QuantTensor *q, int r0, int r1, float *out) {
    const nf_grid *g = grid_of(q->fmt.kind);
    const int B = q->fmt.block, bits = q->fmt.bits, cols = q->cols;
#pragma omp parallel for schedule(static) if ((size_t)(r1 - r0) * cols > QUANT_OMP_MIN)
    for (int r = r0; r < r1; r++) {
        uint8_t codes[QUANT_MAX_BLOCK];
        float tab[16] = {0};
        const uint8_t *row = q->sec[QUANT_SEC_CODES] + (size_t)r * q->row_bytes;
        float *o = out + (size_t)(r - r0) * cols;
        for (int b = 0; b < q->nblk; b++) {
            int j0 = b * B, n = cols - j0 < B ? cols - j0 : B;
            float a = block_absmax(q, r, b);
            // tab[k] = val[k] * a is the very product the reference forms per element.
            for (int k = 0; k < g->ncode; k++) tab[k] = g->val[k] * a;
            unpack_codes(codes, row, j0, n, bits);
            pack_lookup16(o + j0, codes, n, tab);
        }
    }
}
