// data/sp_shim.cpp — the SentencePiece shim: the only C++ file in qpeft, exposing data/sp.h as
// extern "C" (data/tokenizer.c puts it behind data/tokenizer.h). Tested by tests/test_tokenizer.c
// (ids vs Python sentencepiece, run.c decoding).
#include <sentencepiece_processor.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

extern "C" {
#include "data/sp.h"
}

struct SpTokenizer {
    sentencepiece::SentencePieceProcessor sp;
    int vocab = 0;
    // Vocabulary as llama2.c's tokenizer.py export writes it ("▁" -> ' ', BOS/EOS spelled out),
    // built once so tok_decode_piece_run_c can hand out stable pointers.
    std::vector<std::string> runc;
    char byte_str[256][2];  // "<0xNN>" -> the raw byte NN, NUL-terminated
};

// Replace every U+2581 (E2 96 81) with a plain space.
static std::string replace_lower_one_eighth_block(const std::string &s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); i++) {
        if (i + 2 < s.size() && (unsigned char)s[i] == 0xE2 && (unsigned char)s[i + 1] == 0x96 &&
            (unsigned char)s[i + 2] == 0x81) {
            out.push_back(' ');
            i += 2;
        } else {
            out.push_back(s[i]);
        }
    }
    return out;
}

static void build_runc_vocab(SpTokenizer *t) {
    t->runc.resize((size_t)t->vocab);
    for (int i = 0; i < t->vocab; i++) {
        if (i == t->sp.bos_id()) t->runc[i] = "\n<s>\n";
        else if (i == t->sp.eos_id()) t->runc[i] = "\n</s>\n";
        else t->runc[i] = replace_lower_one_eighth_block(t->sp.IdToPiece(i));
    }
    for (int b = 0; b < 256; b++) { t->byte_str[b][0] = (char)b; t->byte_str[b][1] = '\0'; }
}

extern "C" SpTokenizer *sp_load(const char *path, qp_status *st) {
    // Check readability first: SentencePiece's own message for a missing file is terse.
    FILE *fp = std::fopen(path, "rb");
    if (!fp) {
        qp_fail(st, "%s: cannot open tokenizer model: %s", path, std::strerror(errno));
        return nullptr;
    }
    std::fclose(fp);
    SpTokenizer *t = new (std::nothrow) SpTokenizer();
    if (!t) { qp_fail(st, "%s: out of memory loading tokenizer", path); return nullptr; }
    try {
        sentencepiece::util::Status s = t->sp.Load(path);
        if (!s.ok()) {
            qp_fail(st, "%s: not a valid SentencePiece model (%s)", path, s.ToString().c_str());
            delete t;
            return nullptr;
        }
        t->vocab = t->sp.GetPieceSize();
        if (t->vocab <= 0) {
            qp_fail(st, "%s: SentencePiece model with %d pieces, expected at least 1", path, t->vocab);
            delete t;
            return nullptr;
        }
        build_runc_vocab(t);
    } catch (const std::exception &e) {
        qp_fail(st, "%s: not a valid SentencePiece model (%s)", path, e.what());
        delete t;
        return nullptr;
    }
    return t;
}

extern "C" void sp_free(SpTokenizer *t) { delete t; }

// ---- a ModelProto in protobuf's wire format (sentencepiece_model.proto field numbers) -------------
static void pb_varint(std::string &o, uint64_t v) {
    while (v >= 0x80) { o.push_back((char)(v | 0x80)); v >>= 7; }
    o.push_back((char)v);
}
static void pb_key(std::string &o, int field, int wire) { pb_varint(o, (uint64_t)field << 3 | (uint64_t)wire); }
static void pb_int(std::string &o, int field, int64_t v) { pb_key(o, field, 0); pb_varint(o, (uint64_t)v); }
static void pb_bytes(std::string &o, int field, const std::string &s) { pb_key(o, field, 2); pb_varint(o, s.size()); o += s; }
static void pb_float(std::string &o, int field, float f) {
    uint32_t u;
    std::memcpy(&u, &f, 4);
    pb_key(o, field, 5);
    for (int i = 0; i < 4; i++) o.push_back((char)(u >> (8 * i)));
}

static std::string vocab_proto(const tok_vocab *v) {
    std::string m, t, n;
    int byte_pieces = 0;
    for (int i = 0; i < v->n; i++) {
        std::string p;
        int type = v->types ? v->types[i] : 1;
        byte_pieces += type == 6;
        pb_bytes(p, 1, v->pieces[i]);                    // piece
        pb_float(p, 2, v->scores ? v->scores[i] : 0.0f); // score
        pb_int(p, 3, type);                              // type
        pb_bytes(m, 1, p);                               // ModelProto.pieces
    }
    pb_int(t, 3, 2);                       // model_type BPE: llama.cpp's SPM merges by piece score
    pb_int(t, 4, v->n);                    // vocab_size
    pb_int(t, 35, byte_pieces > 0);        // byte_fallback
    pb_int(t, 40, v->unk);                 // unk_id
    pb_int(t, 41, v->bos);                 // bos_id
    pb_int(t, 42, v->eos);                 // eos_id
    pb_int(t, 43, -1);                     // pad_id
    pb_bytes(m, 2, t);
    pb_bytes(n, 1, "identity");            // name: no Unicode normalization (llama.cpp does none)
    pb_int(n, 3, v->add_space_prefix != 0);// add_dummy_prefix
    pb_int(n, 4, 0);                       // remove_extra_whitespaces: off, spaces are kept
    pb_int(n, 5, 1);                       // escape_whitespaces: ' ' -> U+2581
    pb_bytes(m, 3, n);
    return m;
}

extern "C" SpTokenizer *sp_from_vocab(const tok_vocab *v, const char *what, qp_status *st) {
    if (v->n <= 0 || v->unk < 0 || v->unk >= v->n) {
        qp_fail(st, "%s: a SentencePiece vocabulary needs pieces and an unknown-token id, found %d pieces, unk %d", what, v->n, v->unk);
        return nullptr;
    }
    SpTokenizer *t = new (std::nothrow) SpTokenizer();
    if (!t) { qp_fail(st, "%s: out of memory building the tokenizer", what); return nullptr; }
    try {
        sentencepiece::util::Status s = t->sp.LoadFromSerializedProto(vocab_proto(v));
        if (!s.ok()) {
            qp_fail(st, "%s: the vocabulary is not a valid SentencePiece model (%s)", what, s.ToString().c_str());
            delete t;
            return nullptr;
        }
        t->vocab = t->sp.GetPieceSize();
        build_runc_vocab(t);
    } catch (const std::exception &e) {
        qp_fail(st, "%s: the vocabulary is not a valid SentencePiece model (%s)", what, e.what());
        delete t;
        return nullptr;
    }
    return t;
}

extern "C" int sp_encode(const SpTokenizer *t, const char *text, size_t len, int add_bos, int **ids_out, int *n_out,
                         qp_status *st) {
    *ids_out = nullptr;
    *n_out = 0;
    std::vector<int> ids;
    try {
        sentencepiece::util::Status s = t->sp.Encode(std::string(text, len), &ids);
        if (!s.ok()) return qp_fail(st, "tokenizer: encode failed (%s)", s.ToString().c_str());
    } catch (const std::exception &e) {
        return qp_fail(st, "tokenizer: encode failed (%s)", e.what());
    }
    int bos = add_bos ? t->sp.bos_id() : -1;
    size_t n = ids.size() + (bos >= 0 ? 1 : 0);
    int *out = (int *)std::malloc((n ? n : 1) * sizeof(int));
    if (!out) return qp_fail(st, "tokenizer: out of memory for %zu ids", n);
    size_t k = 0;
    if (bos >= 0) out[k++] = bos;
    for (int id : ids) out[k++] = id;
    *ids_out = out;
    *n_out = (int)n;
    return 0;
}

extern "C" char *sp_decode(const SpTokenizer *t, const int *ids, int n) {
    std::vector<int> v;
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->vocab) return nullptr;
        v.push_back(ids[i]);
    }
    std::string text;
    try {
        if (!t->sp.Decode(v, &text).ok()) return nullptr;
    } catch (const std::exception &) {
        return nullptr;
    }
    char *out = (char *)std::malloc(text.size() + 1);
    if (!out) return nullptr;
    std::memcpy(out, text.data(), text.size());
    out[text.size()] = '\0';
    return out;
}

extern "C" const char *sp_piece(const SpTokenizer *t, int id) {
    if (id < 0 || id >= t->vocab) return "";
    return t->sp.IdToPiece(id).c_str();
}

// Parse run.c's `sscanf(piece, "<0x%02hhX>", &b) == 1`: "<0x" then one or two hex digits.
static int parse_byte_piece(const char *p, unsigned char *b) {
    if (std::strncmp(p, "<0x", 3) != 0 || !std::isxdigit((unsigned char)p[3])) return 0;
    unsigned v = 0;
    for (int k = 3; k < 5 && std::isxdigit((unsigned char)p[k]); k++) {
        char c = p[k];
        v = v * 16 + (unsigned)(c <= '9' ? c - '0' : (std::tolower((unsigned char)c) - 'a' + 10));
    }
    *b = (unsigned char)v;
    return 1;
}

extern "C" const char *sp_decode_piece_run_c(const SpTokenizer *t, int prev, int id) {
    if (id < 0 || id >= t->vocab) return "";
    const char *piece = t->runc[(size_t)id].c_str();
    if (prev == t->sp.bos_id() && piece[0] == ' ') piece++;
    unsigned char b;
    if (parse_byte_piece(piece, &b)) piece = t->byte_str[b];
    // run.c's safe_printf: a lone byte that is neither printable nor whitespace prints nothing.
    if (piece[0] != '\0' && piece[1] == '\0') {
        unsigned char c = (unsigned char)piece[0];
        if (!(std::isprint(c) || std::isspace(c))) return "";
    }
    return piece;
}

extern "C" float sp_score(const SpTokenizer *t, int id) { return id >= 0 && id < t->vocab ? t->sp.GetScore(id) : 0.0f; }

extern "C" int sp_piece_type(const SpTokenizer *t, int id) {
    if (id < 0 || id >= t->vocab) return 0;
    // The order of convert_hf_to_gguf.py's SentencePiece branch: unknown, control, unused, byte.
    if (t->sp.IsUnknown(id)) return 2;
    if (t->sp.IsControl(id)) return 3;
    if (t->sp.IsUnused(id)) return 5;
    if (t->sp.IsByte(id)) return 6;
    return 1;
}

extern "C" int sp_vocab_size(const SpTokenizer *t) { return t->vocab; }
extern "C" int sp_bos_id(const SpTokenizer *t) { return t->sp.bos_id(); }
extern "C" int sp_eos_id(const SpTokenizer *t) { return t->sp.eos_id(); }
extern "C" int sp_pad_id(const SpTokenizer *t) { return t->sp.pad_id(); }
extern "C" int sp_unk_id(const SpTokenizer *t) { return t->sp.unk_id(); }
