#!/usr/bin/env node
/*
Compare the engine's byte-level BPE with an independent one: js-tiktoken's gpt2
encoding (npm; pinned in scripts/package-lock.json, install with `npm ci --prefix scripts`).

usage:
  node scripts/tokenizer_check_gpt2.js --engine ./run --vocab ggml-vocab-gpt-2.gguf
                                       [--random N] [--seed S] [--corpus FILE]...

First three checks that the two sides agree on what they are given:
  - vocabulary: every token of the GGUF file, read here and turned into bytes through GPT-2's
    byte map (written here, apart from the engine's), has the same bytes as js-tiktoken's token
    of the same id (its rank), and the counts match;
  - pre-tokenizer: js-tiktoken's pattern is GPT-2's. Its \s is JavaScript's, which differs from
    Unicode's White_Space (what GPT-2's and tiktoken's regex libraries, and the engine, use) in
    two code points, U+0085 and U+FEFF; the strings are encoded with the pattern's \s and \S
    spelled as White_Space, and the strings where stock js-tiktoken differs are counted apart;
  - Unicode: the engine's table (unicode_classes.c, from Python's unicodedata) is compared with
    this node's \p{L} and \p{N} for every code point; characters whose class differs between the
    two Unicode versions are left out of the random strings (and counted).
Then it tokenizes --corpus lines, a fixed list of hard cases and N random strings (default 5000;
Unicode letters, numbers and marks of many scripts, emoji, contractions in both cases and with ’,
whitespace runs, digits, punctuation, Korean, special-token text, controls, noncharacters),
with the engine and with js-tiktoken. Strings without "\n" go to ONE run of
`ENGINE -m tokenize -z VOCAB` on stdin, one per line; the others each to
`ENGINE -m tokenize -z VOCAB -i STRING`. The engine prints the ids it would feed a model: for a
text of no tokens, BOS alone; the expected ids follow the same rule.

Prints each differing string, then "tokenizer_check_gpt2: N strings, D differences".
Exit status: 0 all equal, 1 some differ, 2 setup or engine failure (js-tiktoken missing,
the vocabularies differ, the engine failed or printed the wrong number of lines).
--engine is split on spaces, so a wrapper works, e.g. --engine "valgrind -q ./run".
*/
"use strict";

const fs = require("fs");
const {
    WHITE_SPACE, setName, die, readGguf, readUnicodeTable, unicodeDisagreements, makeRng, makeGenerator, FIXED,
    runLines, runEach,
} = require("./tokenizer_check_lib");

const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const WHITE_SPACE_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" + WHITE_SPACE +
    "\\p{L}\\p{N}]+|[" + WHITE_SPACE + "]+(?![^" + WHITE_SPACE + "])|[" + WHITE_SPACE + "]+";
setName("tokenizer_check_gpt2");

// ---------------------------------------------------------------------------------------------
// Command line

function parseArgs(argv) {
    const args = { engine: null, vocab: null, random: 5000, seed: 1, corpus: [] };
    for (let i = 2; i < argv.length; i++) {
        const flag = argv[i], value = argv[i + 1];
        if (value === undefined) die("option " + flag + " needs a value");
        i++;
        if (flag === "--engine") args.engine = value;
        else if (flag === "--vocab") args.vocab = value;
        else if (flag === "--random") args.random = Number.parseInt(value, 10);
        else if (flag === "--seed") args.seed = Number.parseInt(value, 10);
        else if (flag === "--corpus") args.corpus.push(value);
        else die("unknown option " + flag + " (see the comment at the top of this script)");
    }
    if (!args.engine || !args.vocab) die("--engine and --vocab are required");
    if (!(args.random >= 0) || !(args.seed >= 0)) die("--random and --seed take integers >= 0");
    return args;
}

// ---------------------------------------------------------------------------------------------
// GPT-2's byte map, inverted: character -> the byte it stands for. Printable Latin-1 bytes
// stand for themselves; the others take U+0100, U+0101, ... in byte order.
function gpt2ByteOfChar() {
    const byteOf = new Map();
    let shifted = 0x100;
    for (let b = 0; b < 256; b++) {
        const printable = (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
        byteOf.set(String.fromCodePoint(printable ? b : shifted++), b);
    }
    return byteOf;
}

// ---------------------------------------------------------------------------------------------
// js-tiktoken, and the three agreements

function loadTiktoken() {
    let tiktoken, ranks;
    try {
        tiktoken = require("js-tiktoken");
        ranks = require("js-tiktoken/ranks/gpt2");
    } catch (e) {
        die("js-tiktoken is missing (npm ci --prefix scripts): " + e.message.split("\n")[0]);
    }
    if (ranks.pat_str !== GPT2_PATTERN) die("js-tiktoken's gpt2 pattern is not GPT-2's: " + ranks.pat_str);
    return {
        stock: new tiktoken.Tiktoken(ranks),
        whiteSpace: new tiktoken.Tiktoken({ ...ranks, pat_str: WHITE_SPACE_PATTERN }),
        ranks,
    };
}

// id -> bytes of every js-tiktoken token: the ranks' base64 lines ("NAME OFFSET b64 b64 ..."),
// then the special tokens.
function tiktokenTokenBytes(ranks) {
    const bytesOf = new Map();
    for (const line of ranks.bpe_ranks.split("\n")) {
        if (!line) continue;
        const [, offset, ...tokens] = line.split(" ");
        tokens.forEach((b64, i) => bytesOf.set(Number.parseInt(offset, 10) + i, Buffer.from(b64, "base64")));
    }
    for (const [text, id] of Object.entries(ranks.special_tokens)) bytesOf.set(id, Buffer.from(text, "utf8"));
    return bytesOf;
}

function checkVocabulary(metadata, ranks) {
    const tokens = metadata["tokenizer.ggml.tokens"], types = metadata["tokenizer.ggml.token_type"];
    if (!tokens) die("the GGUF file has no tokenizer.ggml.tokens");
    const byteOf = gpt2ByteOfChar(), expected = tiktokenTokenBytes(ranks);
    if (expected.size !== tokens.length || ranks.explicit_n_vocab !== tokens.length)
        die(`js-tiktoken has ${expected.size} tokens, the GGUF file ${tokens.length}`);
    const CONTROL = 3;
    for (let id = 0; id < tokens.length; id++) {
        const text = tokens[id].toString("utf8");
        const chars = [...text];
        if (!(types && types[id] === CONTROL) && !chars.every((c) => byteOf.has(c)))
            die(`token ${id} (${JSON.stringify(text)}) has a character outside GPT-2's byte map`);
        const bytes = types && types[id] === CONTROL ? Buffer.from(text, "utf8")
            : Buffer.from(chars.map((c) => byteOf.get(c)));
        if (!expected.has(id) || !bytes.equals(expected.get(id)))
            die(`token ${id} differs: GGUF ${JSON.stringify(text)}, js-tiktoken ${expected.get(id)?.toString("hex")}`);
    }
    return tokens.length;
}

// ---------------------------------------------------------------------------------------------

function describe(ranksBytes, ids, i) {
    if (i >= ids.length) return "(end)";
    const bytes = ranksBytes.get(ids[i]);
    return `${ids[i]} ${bytes ? JSON.stringify(bytes.toString("latin1")) : "(no such token)"}`;
}

async function main() {
    const args = parseArgs(process.argv);
    const { stock, whiteSpace, ranks } = loadTiktoken();
    let metadata;
    try {
        metadata = readGguf(args.vocab);
    } catch (e) {
        die("cannot read " + args.vocab + ": " + e.message);
    }
    const nTokens = checkVocabulary(metadata, ranks);
    const bos = metadata["tokenizer.ggml.bos_token_id"];
    const addBos = metadata["tokenizer.ggml.add_bos_token"] === true;
    const table = readUnicodeTable();
    const leftOut = unicodeDisagreements(table);
    console.log(`# vocabulary: the GGUF file's ${nTokens} tokens are js-tiktoken's gpt2 tokens, id for id`);
    console.log(`# Unicode: node's ${process.versions.unicode} and the engine's table (${table.version}) class ` +
        `${leftOut.size} code points differently; they are left out of the random strings`);

    const rng = makeRng(args.seed);
    const generate = makeGenerator(rng, leftOut);
    const items = FIXED.map((s, i) => ["fixed#" + (i + 1), s]);
    for (const file of args.corpus) {
        const lines = fs.readFileSync(file, "utf8").split("\n");
        if (lines[lines.length - 1] === "") lines.pop();
        lines.forEach((s, i) => items.push([`${file}:${i + 1}`, s]));
    }
    for (let i = 0; i < args.random; i++) {
        const r = rng.random();
        const target = r < 0.03 ? 0 : r < 0.6 ? rng.int(1, 30) : r < 0.95 ? rng.int(31, 120) : rng.int(121, 400);
        let s = generate(target, rng.random() < 0.08);
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

    const ranksBytes = tiktokenTokenBytes(ranks);
    let differences = 0, stockDiffers = 0;
    for (const item of items) {
        const [label, s] = item;
        let expected = whiteSpace.encode(s, [], []);
        const stockIds = stock.encode(s, [], []);
        if (stockIds.join() !== expected.join()) {
            stockDiffers++;
            if (!s.includes("\u0085") && !s.includes("\ufeff"))
                die(`${label}: stock js-tiktoken differs without U+0085 or U+FEFF: ${JSON.stringify(s)}`);
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
        console.log(`  first difference at index ${i}: expected ${describe(ranksBytes, expected, i)}, ` +
            `engine ${describe(ranksBytes, ids, i)}`);
    }
    console.log(`# ${byLine.length} strings on stdin lines, ${byArgument.length} through -i; stock js-tiktoken ` +
        `(JavaScript's \\s) differs on ${stockDiffers}, each with U+0085 or U+FEFF`);
    console.log(`tokenizer_check_gpt2: ${items.length} strings, ${differences} differences`);
    process.exit(differences ? 1 : 0);
}

main();
