#!/usr/bin/env python3
"""Build small random sentence-transformers models with the Python reference stack and record
what they output, so test/parity.test.ts can check that sbert-train's tfjs encoders compute
the same thing.

Reference stack (see benchmarks/peers/README.md): Python 3.12, torch, transformers 5.x,
sentence-transformers 6.x, tokenizers. No network: every model and tokenizer is built here.

For each fixture this writes test/fixtures/parity/<name>/:
  - a sentence-transformers folder (modules.json, config.json, model.safetensors, tokenizer
    files, sentence_bert_config.json, 1_Pooling/config.json, [2_Dense/...], [Normalize]),
    saved by sentence-transformers itself and loaded back with SentenceTransformer(path);
  - parity.json: batches of token ids given directly (so the model part is checked without
    any tokenizer), each with the last hidden state and the sentence embeddings, plus a few
    texts with their token ids and `SentenceTransformer.encode` embeddings.

Models are tiny (hidden 32, 2 layers, 4 heads, intermediate 64, max_position 64, vocab ~150)
so each folder stays well under 200 KB and can be committed. Weights are re-drawn from a seeded
normal (std 0.2, LayerNorm weight 1 + 0.2 N(0,1), LayerNorm bias 0.2 N(0,1), MPNet's relative
attention bias std 1) so that attention is far from uniform and every LayerNorm matters: a
default-initialised model (std 0.02, unit LayerNorm) would hide many bugs. Dropout is 0.

Also writes test/fixtures/parity/tokenizer-bert-base-uncased.json: token ids of the real
bert-base-uncased tokenizer (path given by --bert-tokenizer, e.g.
../shared/tokenizers/bert-base-uncased) for awkward texts: empty, accents, CJK, emoji, and a
text longer than 128 tokens (truncation).

Usage:
  python benchmarks/peers/make_parity_fixtures.py --out test/fixtures/parity \
      --bert-tokenizer ../shared/tokenizers/bert-base-uncased
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

# Never touch the network: everything is local.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402
import transformers  # noqa: E402
import sentence_transformers  # noqa: E402
import tokenizers  # noqa: E402
from tokenizers import Regex, Tokenizer, decoders, models as tok_models, normalizers, pre_tokenizers, processors  # noqa: E402
from transformers import AutoModel, AutoTokenizer  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402

try:  # transformers 5 keeps this name as an alias of TokenizersBackend
    from transformers import PreTrainedTokenizerFast
except ImportError:  # pragma: no cover
    from transformers import TokenizersBackend as PreTrainedTokenizerFast  # type: ignore

HIDDEN, LAYERS, HEADS, INTERMEDIATE, MAX_POS = 32, 2, 4, 64, 64
MAX_FOLDER_BYTES = 200 * 1024
TOLERANCE = 1e-5  # agreement required between the independent reference paths below

# ----------------------------------------------------------------------------------------
# Tiny tokenizers
# ----------------------------------------------------------------------------------------

WORDS = (
    "the a an of and to in is was for on with as by at from that this it be are "
    "man woman dog cat car plane guitar music software developer engineer nurse teacher "
    "data science scientist manager senior junior job work play plays playing played "
    "run runs running ride rides riding eat eats eating sit sits sitting big small red "
    "blue green white black new old good bad hello world cafe naive tokyo koln"
).split()
LETTERS = list("abcdefghijklmnopqrstuvwxyz0123456789")
PUNCT = list(".,!?;:'\"()-/&%$")
CJK = list("東京日本語中文")


def wordpiece_vocab(specials: list[str]) -> dict[str, int]:
    """Special tokens first, then whole words, single characters and ## continuation pieces."""
    tokens: list[str] = []
    for t in specials + WORDS + LETTERS + PUNCT + CJK + ["##" + c for c in LETTERS] + ["##s", "##ing", "##ed", "##er"]:
        if t not in tokens:
            tokens.append(t)
    return {t: i for i, t in enumerate(tokens)}


def wordpiece_tokenizer(specials: dict[str, str], order: list[str]) -> Tokenizer:
    """A BERT-style WordPiece tokenizer (lowercasing BertNormalizer, BertPreTokenizer)."""
    vocab = wordpiece_vocab(order)
    tok = Tokenizer(tok_models.WordPiece(vocab=vocab, unk_token=specials["unk"], max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls, sep = specials["cls"], specials["sep"]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls}:0 $A:0 {sep}:0",
        pair=f"{cls}:0 $A:0 {sep}:0 $B:1 {sep}:1",
        special_tokens=[(cls, vocab[cls]), (sep, vocab[sep])],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    # Special tokens as added tokens, so "[CLS]" written in a text is one token (ids unchanged).
    tok.add_special_tokens(order)
    return tok


def unigram_tokenizer() -> tuple[Tokenizer, dict[str, int]]:
    """An XLM-R-style SentencePiece Unigram tokenizer (Metaspace), built without sentencepiece."""
    pieces: list[tuple[str, float]] = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    seen = {p for p, _ in pieces}
    candidates = ["\u2581" + w for w in WORDS] + ["\u2581"] + LETTERS + PUNCT + CJK + ["\u2581" + c for c in LETTERS] + ["s", "ing", "ed", "er"]
    for i, p in enumerate(candidates):
        if p in seen:
            continue
        seen.add(p)
        # Longer pieces score higher; the small index term keeps every score distinct, so
        # no segmentation ever ties between implementations.
        pieces.append((p, -10.0 + len(p) - 1e-3 * i))
    pieces.append(("<mask>", 0.0))
    tok = Tokenizer(tok_models.Unigram(pieces, unk_id=3, byte_fallback=False))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.post_processor = processors.TemplateProcessing(
        single="<s>:0 $A:0 </s>:0",
        pair="<s>:0 $A:0 </s>:0 </s>:0 $B:0 </s>:0",
        special_tokens=[("<s>", 0), ("</s>", 2)],
    )
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="always")
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    vocab = {p: i for i, (p, _) in enumerate(pieces)}
    return tok, vocab


BERT_SPECIALS = {"pad": "[PAD]", "unk": "[UNK]", "cls": "[CLS]", "sep": "[SEP]", "mask": "[MASK]"}
BERT_ORDER = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
MPNET_SPECIALS = {"pad": "<pad>", "unk": "[UNK]", "cls": "<s>", "sep": "</s>", "mask": "<mask>", "bos": "<s>", "eos": "</s>"}
MPNET_ORDER = ["<s>", "<pad>", "</s>", "[UNK]", "<mask>"]
XLMR_SPECIALS = {"pad": "<pad>", "unk": "<unk>", "cls": "<s>", "sep": "</s>", "mask": "<mask>", "bos": "<s>", "eos": "</s>"}


def hf_tokenizer(kind: str) -> tuple[PreTrainedTokenizerFast, int]:
    """A transformers tokenizer wrapping a tiny `tokenizers` pipeline; returns it and its vocab size."""
    if kind == "bert" or kind == "distilbert":
        raw, specials, max_length = wordpiece_tokenizer(BERT_SPECIALS, BERT_ORDER), BERT_SPECIALS, MAX_POS
        names = ["input_ids", "token_type_ids", "attention_mask"] if kind == "bert" else ["input_ids", "attention_mask"]
    elif kind == "mpnet":
        # RoBERTa-style position ids start after the padding id, so two positions are unusable.
        raw, specials, max_length = wordpiece_tokenizer(MPNET_SPECIALS, MPNET_ORDER), MPNET_SPECIALS, MAX_POS - 2
        names = ["input_ids", "attention_mask"]
    elif kind == "xlm-roberta":
        raw, specials, max_length = unigram_tokenizer()[0], XLMR_SPECIALS, MAX_POS - 2
        names = ["input_ids", "attention_mask"]
    else:
        raise ValueError(kind)
    t = PreTrainedTokenizerFast(
        tokenizer_object=raw,
        **{f"{role}_token": token for role, token in specials.items()},
        model_max_length=max_length,
        model_input_names=names,
        clean_up_tokenization_spaces=False,
    )
    return t, max(raw.get_vocab_size(with_added_tokens=True), len(t))


# ----------------------------------------------------------------------------------------
# Tiny models
# ----------------------------------------------------------------------------------------


def hf_config(kind: str, vocab_size: int):
    common = dict(vocab_size=vocab_size, max_position_embeddings=MAX_POS)
    # BERT, XLM-RoBERTa and MPNet configs share these names; DistilBERT has its own.
    bert_like = dict(
        **common,
        hidden_size=HIDDEN,
        num_hidden_layers=LAYERS,
        num_attention_heads=HEADS,
        intermediate_size=INTERMEDIATE,
        hidden_act="gelu",
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    # RoBERTa-style vocabularies: <s> 0, <pad> 1, </s> 2.
    roberta_ids = dict(pad_token_id=1, bos_token_id=0, eos_token_id=2)
    if kind == "bert":
        return transformers.BertConfig(**bert_like, type_vocab_size=2, layer_norm_eps=1e-12, pad_token_id=0)
    if kind == "distilbert":
        return transformers.DistilBertConfig(
            **common,
            dim=HIDDEN,
            n_layers=LAYERS,
            n_heads=HEADS,
            hidden_dim=INTERMEDIATE,
            activation="gelu",
            dropout=0.0,
            attention_dropout=0.0,
            sinusoidal_pos_embds=False,
            pad_token_id=0,
        )
    if kind == "xlm-roberta":
        return transformers.XLMRobertaConfig(**bert_like, **roberta_ids, type_vocab_size=1, layer_norm_eps=1e-5)
    if kind == "mpnet":
        return transformers.MPNetConfig(**bert_like, **roberta_ids, relative_attention_num_buckets=32, layer_norm_eps=1e-5)
    raise ValueError(kind)


def build_hf_model(kind: str, vocab_size: int, seed: int) -> torch.nn.Module:
    config = hf_config(kind, vocab_size)
    torch.manual_seed(seed)
    try:
        # The eager attention is the literal formula; SDPA would do as well in float32 on CPU.
        model = AutoModel.from_config(config, attn_implementation="eager")
    except (TypeError, ValueError):
        model = AutoModel.from_config(config)
    perturb(model, seed)
    model.eval()
    return model


def perturb(module: torch.nn.Module, seed: int) -> None:
    """Re-draw every parameter so nothing is at its (hiding) default; see the module doc."""
    g = torch.Generator().manual_seed(seed + 1)

    def normal(p: torch.Tensor, std: float, mean: float = 0.0) -> None:
        p.copy_(mean + std * torch.randn(p.shape, generator=g, dtype=torch.float32))

    with torch.no_grad():
        done: set[int] = set()
        for name, m in module.named_modules():
            if isinstance(m, torch.nn.LayerNorm):
                normal(m.weight, 0.2, 1.0)
                normal(m.bias, 0.2)
                done.update({id(m.weight), id(m.bias)})
        for name, p in module.named_parameters():
            if id(p) in done:
                continue
            normal(p, 1.0 if "relative_attention_bias" in name else 0.2)


# ----------------------------------------------------------------------------------------
# Fixtures
# ----------------------------------------------------------------------------------------

FIXTURES = [
    # name, architecture, pooling modes, dense out features (None = no Dense), normalize
    ("bert-mean", "bert", ["mean"], None, False),
    ("bert-cls-dense-normalize", "bert", ["cls"], 16, True),
    ("distilbert-max", "distilbert", ["max"], None, False),
    ("xlm-roberta-mean", "xlm-roberta", ["mean"], None, False),
    ("mpnet-mean-normalize", "mpnet", ["mean"], None, True),
]

TEXTS = [
    "A man is playing a guitar.",
    "the dog runs",
    "",
    "Naïve café in Köln",
    "東京 data scientist 🚀",
    "  leading and trailing spaces  ",
    "software developer, senior (remote) - 100%",
]

MODE_KEYS = {
    "cls": "pooling_mode_cls_token",
    "mean": "pooling_mode_mean_tokens",
    "max": "pooling_mode_max_tokens",
    "mean_sqrt_len": "pooling_mode_mean_sqrt_len_tokens",
    "weightedmean": "pooling_mode_weightedmean_tokens",
    "lasttoken": "pooling_mode_lasttoken",
}


def id_batches(kind: str, tok, vocab_size: int, seed: int) -> list[dict[str, list[list[int]]]]:
    """Token-id batches given straight to the model: mixed lengths with right padding, a
    two-segment row for BERT (token_type_ids 1), and one row at the longest usable length."""
    g = torch.Generator().manual_seed(seed + 2)
    cls, sep, pad = tok.cls_token_id, tok.sep_token_id, tok.pad_token_id
    first_regular = 5  # every tiny vocab starts with 5 special tokens
    max_len = MAX_POS if kind in ("bert", "distilbert") else MAX_POS - 2  # RoBERTa-style ids start at pad + 1

    def content(n: int) -> list[int]:
        return torch.randint(first_regular, vocab_size - 1, (n,), generator=g).tolist()

    def pad_rows(rows: list[list[int]], types: list[list[int]]) -> dict[str, list[list[int]]]:
        T = max(len(r) for r in rows)
        return {
            "input_ids": [r + [pad] * (T - len(r)) for r in rows],
            "attention_mask": [[1] * len(r) + [0] * (T - len(r)) for r in rows],
            "token_type_ids": [t + [0] * (T - len(t)) for t in types],
        }

    rows = [[cls] + content(n) + [sep] for n in (9, 3, 6)]
    types = [[0] * len(r) for r in rows]
    if kind == "bert":
        a, b = content(4), content(3)
        rows.append([cls] + a + [sep] + b + [sep])
        types.append([0] * (len(a) + 2) + [1] * (len(b) + 1))
    batches = [pad_rows(rows, types)]
    # One row at the longest length the position embeddings allow (padding is covered above).
    long_row = [cls] + content(max_len - 2) + [sep]
    batches.append(pad_rows([long_row], [[0] * len(long_row)]))
    return batches


def rounded(x: torch.Tensor) -> list:
    """Nested lists of values with 7 significant digits: 1e-7 relative error, far inside the
    1e-4 the parity test allows, and it keeps each fixture folder small."""

    def r(v):
        return [r(e) for e in v] if isinstance(v, list) else float(f"{v:.7g}")

    return r(x.detach().to(torch.float32).cpu().tolist())


def features_for(kind: str, batch: dict[str, list[list[int]]]) -> dict[str, torch.Tensor]:
    f = {
        "input_ids": torch.tensor(batch["input_ids"], dtype=torch.long),
        "attention_mask": torch.tensor(batch["attention_mask"], dtype=torch.long),
    }
    if kind == "bert" or kind == "xlm-roberta":
        f["token_type_ids"] = torch.tensor(batch["token_type_ids"], dtype=torch.long)
    return f


def manual_pool(tokens: torch.Tensor, mask: torch.Tensor, modes: list[str]) -> torch.Tensor:
    """Pooling written out from sentence_transformers/models/Pooling.py, as a cross-check."""
    m = mask.unsqueeze(-1).to(tokens.dtype)
    out = []
    for mode in modes:
        if mode == "cls":
            out.append(tokens[:, 0])
        elif mode == "max":
            out.append(torch.where(m.bool(), tokens, torch.full_like(tokens, -1e9)).max(dim=1).values)
        elif mode == "mean":
            out.append((tokens * m).sum(1) / m.sum(1).clamp(min=1e-9))
        else:
            raise ValueError(mode)
    return torch.cat(out, dim=-1)


def build_st_folder(name: str, kind: str, modes: list[str], dense_out: int | None, normalize: bool, out_dir: Path, seed: int) -> dict:
    tok, vocab_size = hf_tokenizer(kind)
    hf_model = build_hf_model(kind, vocab_size, seed)
    max_seq_length = 32
    with tempfile.TemporaryDirectory() as tmp:
        hf_dir = Path(tmp) / "hf"
        try:
            hf_model.save_pretrained(hf_dir, safe_serialization=True)
        except TypeError:  # safetensors is the only format in newer transformers
            hf_model.save_pretrained(hf_dir)
        tok.save_pretrained(hf_dir)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        try:
            st = make_sentence_transformer(hf_dir, modes, dense_out, normalize, max_seq_length, seed)
            save_st(st, out_dir)
        except (ImportError, AttributeError, TypeError) as e:
            # The module-building API moved: write the documented folder layout by hand; it is
            # still loaded (and so validated) by SentenceTransformer(path) below.
            print(f"{name}: sentence_transformers.models API failed ({e!r}); writing the folder by hand", file=sys.stderr)
            if out_dir.exists():
                shutil.rmtree(out_dir)
            write_folder_by_hand(hf_dir, out_dir, modes, dense_out, normalize, max_seq_length, seed)
    tidy_folder(out_dir)

    # Everything below uses the model as loaded back from the folder, as a user would.
    st = SentenceTransformer(str(out_dir), device="cpu")
    st.eval()
    loaded_hf = transformer_module(st)
    record: dict = {
        "format": 1,
        "name": name,
        "architecture": kind,
        "pooling": modes,
        "dense_out_features": dense_out,
        "normalize": normalize,
        "max_seq_length": st.max_seq_length,
        "hidden_size": HIDDEN,
        "dim": HIDDEN * len(modes) if dense_out is None else dense_out,
        "seed": seed,
        "versions": versions(),
        "batches": [],
    }
    with torch.no_grad():
        for batch in id_batches(kind, tok, vocab_size, seed):
            feats = features_for(kind, batch)
            hidden = hf_model(**feats).last_hidden_state
            hidden_loaded = loaded_hf(**feats).last_hidden_state
            check_close(hidden, hidden_loaded, f"{name}: hidden states before save vs after load", feats["attention_mask"])
            manual = apply_tail(st, manual_pool(hidden, feats["attention_mask"], modes))
            try:
                out = st({k: v.clone() for k, v in feats.items()})
            except Exception as e:  # noqa: BLE001 - report and fall back, the texts below still go through ST
                print(f"{name}: SentenceTransformer.forward(features) failed ({e!r}); using Pooling/Dense/Normalize by hand", file=sys.stderr)
                record["batch_reference"] = "manual"
                emb = manual
            else:
                record["batch_reference"] = "SentenceTransformer.forward"
                emb = out["sentence_embedding"]
                check_close(out["token_embeddings"], hidden, f"{name}: SentenceTransformer token_embeddings vs model output", feats["attention_mask"])
                check_close(emb, manual, f"{name}: SentenceTransformer embedding vs Pooling/Dense/Normalize by hand")
            record["batches"].append({**batch, "last_hidden_state": rounded(hidden), "sentence_embedding": rounded(emb)})

        enc = tokenize(st, TEXTS)
        ids = [[int(t) for t, m in zip(row, mask) if m] for row, mask in zip(enc["input_ids"].tolist(), enc["attention_mask"].tolist())]
        emb = torch.as_tensor(st.encode(TEXTS, batch_size=len(TEXTS), convert_to_numpy=True))
        # The same texts through the model and the by-hand tail: encode() must agree with it.
        model_inputs = {k: v for k, v in enc.items() if k in ("input_ids", "attention_mask", "token_type_ids")}
        by_hand = apply_tail(st, manual_pool(loaded_hf(**model_inputs).last_hidden_state, enc["attention_mask"], modes))
        check_close(emb, by_hand, f"{name}: SentenceTransformer.encode vs model + Pooling/Dense/Normalize by hand")
        record["texts"] = TEXTS
        record["text_input_ids"] = ids
        record["text_embeddings"] = rounded(emb)

    (out_dir / "parity.json").write_text(json.dumps(record, ensure_ascii=False) + "\n", encoding="utf-8")
    size = folder_bytes(out_dir)
    print(f"{name}: {size / 1024:.0f} KB -> {out_dir}")
    if size > MAX_FOLDER_BYTES:
        raise SystemExit(f"{name}: folder is {size} bytes, over the {MAX_FOLDER_BYTES} limit for committed fixtures")
    return record


def make_sentence_transformer(hf_dir: Path, modes: list[str], dense_out: int | None, normalize: bool, max_seq_length: int, seed: int) -> SentenceTransformer:
    """Assemble Transformer -> Pooling -> [Dense] -> [Normalize] with sentence-transformers' own
    module classes, so the folder it saves is exactly what ST 6 writes."""
    from sentence_transformers import models

    word = models.Transformer(str(hf_dir), max_seq_length=max_seq_length)
    assert len(modes) == 1, "one pooling mode per fixture"
    pool = models.Pooling(HIDDEN, pooling_mode=modes[0])
    modules: list[torch.nn.Module] = [word, pool]
    if dense_out is not None:
        torch.manual_seed(seed + 3)
        dense = models.Dense(in_features=HIDDEN, out_features=dense_out, bias=True, activation_function=torch.nn.Tanh())
        perturb(dense, seed + 3)
        modules.append(dense)
    if normalize:
        modules.append(models.Normalize())
    st = SentenceTransformer(modules=modules, device="cpu")
    st.max_seq_length = max_seq_length
    return st


def write_folder_by_hand(hf_dir: Path, out_dir: Path, modes: list[str], dense_out: int | None, normalize: bool, max_seq_length: int, seed: int) -> None:
    """The sentence-transformers folder layout (https://sbert.net/docs/sentence_transformer/usage/custom_models.html),
    written file by file."""
    from safetensors.torch import save_file

    shutil.copytree(hf_dir, out_dir)
    modules = [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"}]
    (out_dir / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_seq_length, "do_lower_case": False}, indent=2))
    pool_dir = out_dir / "1_Pooling"
    pool_dir.mkdir()
    pool_cfg = {"word_embedding_dimension": HIDDEN, **{MODE_KEYS[m]: (m in modes) for m in MODE_KEYS}, "include_prompt": True}
    (pool_dir / "config.json").write_text(json.dumps(pool_cfg, indent=2))
    modules.append({"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"})
    idx = 2
    if dense_out is not None:
        torch.manual_seed(seed + 3)
        linear = torch.nn.Linear(HIDDEN * len(modes), dense_out)
        perturb(linear, seed + 3)
        d = out_dir / f"{idx}_Dense"
        d.mkdir()
        cfg = {"in_features": HIDDEN * len(modes), "out_features": dense_out, "bias": True, "activation_function": "torch.nn.modules.activation.Tanh"}
        (d / "config.json").write_text(json.dumps(cfg, indent=2))
        save_file({"linear.weight": linear.weight.detach().contiguous(), "linear.bias": linear.bias.detach().contiguous()}, str(d / "model.safetensors"), metadata={"format": "pt"})
        modules.append({"idx": idx, "name": str(idx), "path": d.name, "type": "sentence_transformers.models.Dense"})
        idx += 1
    if normalize:
        (out_dir / f"{idx}_Normalize").mkdir()
        modules.append({"idx": idx, "name": str(idx), "path": f"{idx}_Normalize", "type": "sentence_transformers.models.Normalize"})
    (out_dir / "modules.json").write_text(json.dumps(modules, indent=2))


def tokenize(st: SentenceTransformer, texts: list[str]) -> dict:
    """Token ids the way SentenceTransformer.encode makes them."""
    if hasattr(st, "tokenize"):
        return st.tokenize(texts)
    # Transformer.tokenize strips each text, pads to the longest and truncates to max_seq_length.
    return st.tokenizer([t.strip() for t in texts], padding=True, truncation="longest_first", max_length=st.max_seq_length, return_tensors="pt")


def save_st(st: SentenceTransformer, out_dir: Path) -> None:
    try:
        st.save(str(out_dir), safe_serialization=True, create_model_card=False)
    except TypeError:
        st.save(str(out_dir))


def tidy_folder(out_dir: Path) -> None:
    """Keep only safetensors weights (what sbert-train reads), drop the model card."""
    for readme in out_dir.glob("README.md"):
        readme.unlink()
    for bin_file in out_dir.rglob("pytorch_model.bin"):
        st_file = bin_file.with_name("model.safetensors")
        if not st_file.exists():
            from safetensors.torch import save_file

            state = torch.load(bin_file, map_location="cpu", weights_only=True)
            save_file({k: v.contiguous() for k, v in state.items()}, str(st_file), metadata={"format": "pt"})
        bin_file.unlink()


def transformer_module(st: SentenceTransformer) -> torch.nn.Module:
    """The Hugging Face model inside the first module (`auto_model` in ST 2-5; `model` later)."""
    first = st[0]
    for attr in ("auto_model", "model"):
        m = getattr(first, attr, None)
        if isinstance(m, torch.nn.Module):
            return m
    raise SystemExit("cannot find the Hugging Face model inside the SentenceTransformer's first module")


def apply_tail(st: SentenceTransformer, x: torch.Tensor) -> torch.Tensor:
    """Dense and Normalize modules after Pooling, applied by hand."""
    for module in list(st)[2:]:
        kind = type(module).__name__
        if kind == "Dense":
            x = module.activation_function(module.linear(x))
        elif kind == "Normalize":
            x = torch.nn.functional.normalize(x, p=2, dim=1)
        else:
            raise SystemExit(f"unexpected module {kind}")
    return x


def check_close(a: torch.Tensor, b: torch.Tensor, what: str, mask: torch.Tensor | None = None) -> None:
    """Max abs difference <= TOLERANCE; with `mask` [batch, seq], only attended positions of
    [batch, seq, hidden] tensors count (padded positions carry no meaning)."""
    d = (a.to(torch.float64) - b.to(torch.float64)).abs() if a.shape == b.shape else torch.full((1,), float("inf"))
    if mask is not None and a.shape == b.shape:
        d = d * mask.unsqueeze(-1).to(d.dtype)
    diff = d.max().item() if d.numel() else 0.0
    if a.shape != b.shape or diff > TOLERANCE:
        raise SystemExit(f"{what}: shapes {tuple(a.shape)} / {tuple(b.shape)}, max abs diff {diff}")


def folder_bytes(d: Path) -> int:
    return sum(p.stat().st_size for p in d.rglob("*") if p.is_file())


def versions() -> dict[str, str]:
    return {
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "tokenizers": tokenizers.__version__,
    }


# ----------------------------------------------------------------------------------------
# bert-base-uncased tokenizer ids
# ----------------------------------------------------------------------------------------

TOKENIZER_TEXTS = [
    "",
    "Hello, world!",
    "naïve café résumé",
    "e\u0301tude (decomposed accent)",
    "Über Straße",
    "東京タワーに行きました",
    "안녕하세요 세계",
    "مرحبا بالعالم",
    "😀 emoji 🚀 test",
    "don't stop-believing... (really?)",
    "   leading and trailing spaces   ",
    "UPPER lower MiXeD",
    "tab\tseparated\nnew line",
    "123,456.78 $100 ¥500 3.14e-10",
    "\ufb01 ligature and zero\u200bwidth",
    "unbelievably antidisestablishmentarianism",
    " ".join(["The quick brown fox jumps over the lazy dog."] * 16),
]


def tokenizer_fixture(path: str, out_file: Path) -> None:
    tok = AutoTokenizer.from_pretrained(path)
    cases = []
    for max_length in (128, 16):
        for text in TOKENIZER_TEXTS:
            enc = tok(text, truncation=True, max_length=max_length)
            cases.append(
                {
                    "text": text,
                    "max_length": max_length,
                    "input_ids": list(enc["input_ids"]),
                    "token_type_ids": list(enc.get("token_type_ids", [0] * len(enc["input_ids"]))),
                }
            )
    full = tok(TOKENIZER_TEXTS[-1])["input_ids"]
    if len(full) <= 128:
        raise SystemExit(f"the long text has only {len(full)} tokens; it must exceed 128 to test truncation")
    record = {"format": 1, "tokenizer": "bert-base-uncased", "source": str(path), "versions": versions(), "cases": cases}
    out_file.write_text(json.dumps(record, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"tokenizer ids: {len(cases)} cases -> {out_file}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="test/fixtures/parity", help="fixture folder (one sub-folder per model)")
    ap.add_argument("--bert-tokenizer", default="../shared/tokenizers/bert-base-uncased", help="local bert-base-uncased tokenizer folder")
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--only", nargs="*", help="fixture names to build (default: all)")
    args = ap.parse_args()

    torch.set_num_threads(1)  # deterministic reductions
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for i, (name, kind, modes, dense_out, normalize) in enumerate(FIXTURES):
        if args.only and name not in args.only:
            continue
        build_st_folder(name, kind, modes, dense_out, normalize, out / name, args.seed + 100 * i)
    if Path(args.bert_tokenizer).exists():
        tokenizer_fixture(args.bert_tokenizer, out / "tokenizer-bert-base-uncased.json")
    else:
        print(f"skipping tokenizer ids: {args.bert_tokenizer} not found", file=sys.stderr)


if __name__ == "__main__":
    main()
