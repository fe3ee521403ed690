# tests/oracle_tokenizer.py — reference token ids from Python sentencepiece for tests/test_tokenizer.c.
# Usage: oracle_tokenizer.py MODEL ADD_BOS IN OUT; IN holds one hex-encoded UTF-8 string per line.
# OUT gets, per string, "<space-separated ids>\t<hex of sp.decode(ids)>" (either part may be empty).
import sys
import sentencepiece as spm

model, add_bos, inp, out = sys.argv[1], sys.argv[2] == "1", sys.argv[3], sys.argv[4]
sp = spm.SentencePieceProcessor(model_file=model)
with open(inp) as f, open(out, "w") as g:
    for line in f:
        text = bytes.fromhex(line.strip()).decode("utf-8")
        ids = sp.encode(text, add_bos=add_bos)
        g.write(" ".join(str(i) for i in ids) + "\t" + sp.decode(ids).encode("utf-8").hex() + "\n")
