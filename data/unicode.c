// data/unicode.c — ICU behind data/unicode.h (the only file that includes ICU headers): character
// classes for the BPE pre-tokenizers and NFC. Tested by tests/test_bpe.sh against HF tokenizers.
#include "data/unicode.h"
#include "core/check.h"
#include <stdlib.h>
#include <string.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

int32_t uni_next(const unsigned char *s, size_t n, size_t *len) {
    unsigned c = s[0];
    *len = 1;
    if (c < 0x80) return (int32_t)c;
    int k = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
    if (k == 0 || c > 0xF4 || n <= (size_t)k) return -1;  // a stray continuation byte, or truncated
    int32_t cp = (int32_t)(c & (0x3F >> k));
    for (int i = 1; i <= k; i++) {
        if ((s[i] & 0xC0) != 0x80) return -1;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are malformed, as Rust's str rejects them.
    static const int32_t min_cp[4] = {0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[k] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return -1;
    *len = (size_t)k + 1;
    return cp;
}

uni_class uni_class_of(int32_t cp) {
    if (cp < 0) return UNI_OTHER;
    if (cp < 0x80) {  // ASCII fast path: the same answers ICU gives
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return UNI_LETTER;
        if (cp >= '0' && cp <= '9') return UNI_NUMBER;
        if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D)) return UNI_SPACE;
        return UNI_OTHER;
    }
    if (u_isUWhiteSpace(cp)) return UNI_SPACE;
    switch (u_charType(cp)) {
    case U_UPPERCASE_LETTER: case U_LOWERCASE_LETTER: case U_TITLECASE_LETTER: case U_MODIFIER_LETTER:
    case U_OTHER_LETTER:
        return UNI_LETTER;
    case U_DECIMAL_DIGIT_NUMBER: case U_LETTER_NUMBER: case U_OTHER_NUMBER:
        return UNI_NUMBER;
    default:
        return UNI_OTHER;
    }
}

// NFC of one run of valid UTF-8 through ICU's UTF-16 API, appended to out.
static int nfc_valid_run(const char *s, size_t n, char **out, size_t *len, size_t *cap, qp_status *st) {
    UErrorCode e = U_ZERO_ERROR;
    const UNormalizer2 *nfc = unorm2_getNFCInstance(&e);
    if (U_FAILURE(e)) return qp_fail(st, "NFC: ICU has no NFC data (%s)", u_errorName(e));
    int32_t n16 = 0;
    u_strFromUTF8(NULL, 0, &n16, s, (int32_t)n, &e);
    if (e != U_BUFFER_OVERFLOW_ERROR && U_FAILURE(e)) return qp_fail(st, "NFC: %s", u_errorName(e));
    e = U_ZERO_ERROR;
    UChar *in = xmalloc(((size_t)n16 + 1) * sizeof(UChar));
    u_strFromUTF8(in, n16 + 1, NULL, s, (int32_t)n, &e);
    // NFC can grow a string by at most 3x in UTF-16 units (Unicode's stated bound).
    int32_t cap16 = 3 * n16 + 1;
    UChar *norm = xmalloc((size_t)cap16 * sizeof(UChar));
    int32_t m16 = U_SUCCESS(e) ? unorm2_normalize(nfc, in, n16, norm, cap16, &e) : 0;
    int32_t m8 = 0;
    if (U_SUCCESS(e)) { u_strToUTF8(NULL, 0, &m8, norm, m16, &e); if (e == U_BUFFER_OVERFLOW_ERROR) e = U_ZERO_ERROR; }
    if (U_FAILURE(e)) { free(in); free(norm); return qp_fail(st, "NFC: %s", u_errorName(e)); }
    while (*len + (size_t)m8 + 1 > *cap) { *cap *= 2; *out = xrealloc(*out, *cap); }
    u_strToUTF8(*out + *len, m8 + 1, NULL, norm, m16, &e);
    *len += (size_t)m8;
    free(in); free(norm);
    return U_FAILURE(e) ? qp_fail(st, "NFC: %s", u_errorName(e)) : 0;
}

int uni_nfc(const char *s, size_t n, char **out, size_t *out_n, qp_status *st) {
    size_t cap = n + 16, len = 0;
    char *o = xmalloc(cap);
    size_t i = 0;
    while (i < n) {
        // Split at malformed bytes: each valid run is normalised, each bad byte copied as is.
        size_t j = i, cl;
        while (j < n && uni_next((const unsigned char *)s + j, n - j, &cl) >= 0) j += cl;
        if (j > i) {
            int ascii = 1;
            for (size_t k = i; k < j && ascii; k++) ascii = (unsigned char)s[k] < 0x80;
            if (ascii) {
                while (len + (j - i) + 1 > cap) { cap *= 2; o = xrealloc(o, cap); }
                memcpy(o + len, s + i, j - i);
                len += j - i;
            } else if (nfc_valid_run(s + i, j - i, &o, &len, &cap, st) != 0) {
                free(o);
                return -1;
            }
        }
        if (j < n) {
            if (len + 2 > cap) { cap *= 2; o = xrealloc(o, cap); }
            o[len++] = s[j++];
        }
        i = j;
    }
    o[len] = '\0';
    *out = o;
    *out_n = len;
    return 0;
}
