// quant/pack.c — dense bit packing of b-bit codes, one little-endian bit stream per row.
// Tested by tests/test_quant.c (fast pack/unpack against the bit-by-bit reference, odd sizes).
#include "quant/quant_internal.h"
#include "core/check.h"
#include <string.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif

size_t pack_row_bytes(int n, int bits) { return ((size_t)n * (size_t)bits + 7) / 8; }

// Reference: stream bit k is bit (k % 8) of byte k / 8; code bit i goes to stream bit j*b + i.
void pack_set_ref(uint8_t *row, int j, int bits, unsigned code) {
    for (int i = 0; i < bits; i++) {
        size_t k = (size_t)j * bits + i;
        uint8_t m = (uint8_t)(1u << (k % 8));
        if (code >> i & 1u) row[k / 8] |= m;
        else row[k / 8] &= (uint8_t)~m;
    }
}

unsigned pack_get_ref(const uint8_t *row, int j, int bits) {
    unsigned c = 0;
    for (int i = 0; i < bits; i++) {
        size_t k = (size_t)j * bits + i;
        c |= (unsigned)(row[k / 8] >> (k % 8) & 1u) << i;
    }
    return c;
}

// Generic packer: shift codes into a 64-bit accumulator, flush whole bytes.
static void pack_generic(uint8_t *row, const uint8_t *codes, int n, int bits) {
    uint64_t acc = 0;
    int nacc = 0;
    size_t o = 0;
    for (int j = 0; j < n; j++) {
        acc |= (uint64_t)codes[j] << nacc;
        nacc += bits;
        while (nacc >= 8) { row[o++] = (uint8_t)acc; acc >>= 8; nacc -= 8; }
    }
    if (nacc > 0) row[o++] = (uint8_t)acc;  // last partial byte, high bits zero
}

void pack_codes(uint8_t *row, const uint8_t *codes, int n, int bits) {
    if (bits == 8) { memcpy(row, codes, (size_t)n); return; }
    if (bits == 4) {
        int j = 0;
        for (; j + 1 < n; j += 2) row[j / 2] = (uint8_t)(codes[j] | codes[j + 1] << 4);
        if (j < n) row[j / 2] = codes[j];
        return;
    }
    pack_generic(row, codes, n, bits);
}

// Generic unpacker for any width: reads bytes into a 64-bit window, never past the bytes
// that hold codes [j0, j0+n).
static void unpack_generic(uint8_t *codes, const uint8_t *p, int n, int bits) {
    const unsigned mask = (1u << bits) - 1;
    uint64_t acc = 0;
    int nacc = 0;
    for (int j = 0; j < n; j++) {
        while (nacc < bits) { acc |= (uint64_t)*p++ << nacc; nacc += 8; }
        codes[j] = (uint8_t)(acc & mask);
        acc >>= bits;
        nacc -= bits;
    }
}

void unpack_codes(uint8_t *codes, const uint8_t *row, int j0, int n, int bits) {
    QP_ASSERT(((size_t)j0 * bits) % 8 == 0);
    const uint8_t *p = row + (size_t)j0 * bits / 8;
    int j = 0;
    switch (bits) {
    case 8: memcpy(codes, p, (size_t)n); return;
    case 4:
        for (; j + 1 < n; j += 2, p++) { codes[j] = *p & 15; codes[j + 1] = *p >> 4; }
        break;
    case 2:
        for (; j + 3 < n; j += 4, p++) {
            codes[j] = *p & 3; codes[j + 1] = *p >> 2 & 3;
            codes[j + 2] = *p >> 4 & 3; codes[j + 3] = *p >> 6;
        }
        break;
    case 3:  // eight codes in three bytes
        for (; j + 7 < n; j += 8, p += 3) {
            uint32_t v = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16;
            for (int i = 0; i < 8; i++) codes[j + i] = (uint8_t)(v >> (3 * i) & 7);
        }
        break;
    default: break;
    }
    if (j < n) unpack_generic(codes + j, p, n - j, bits);  // tail (and widths 5..7)
}

// out[j] = tab[c[j]] for 16-entry tables: two in-register permutes and a blend per 8 codes.
void pack_lookup16(float *out, const uint8_t *c, int n, const float *tab) {
    int j = 0;
#ifdef __AVX2__
    __m256 lo = _mm256_loadu_ps(tab), hi = _mm256_loadu_ps(tab + 8);
    for (; j + 8 <= n; j += 8) {
        __m256i idx = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(c + j)));
        __m256 a = _mm256_permutevar8x32_ps(lo, idx), b = _mm256_permutevar8x32_ps(hi, idx);
        __m256 sel = _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28));  // bit 3 -> sign bit
        _mm256_storeu_ps(out + j, _mm256_blendv_ps(a, b, sel));
    }
#endif
    for (; j < n; j++) out[j] = tab[c[j]];
}
