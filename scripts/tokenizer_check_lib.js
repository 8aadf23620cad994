/*
The parts the engine's tokenizer checks share (tokenizer_check_gpt2.js, tokenizer_check_bpe.js):
reading a GGUF file's metadata, the engine's Unicode table, seeded random strings of many
scripts and hard cases, and running the engine's `-m tokenize` on them.

The engine is run as `ENGINE -m tokenize -z VOCAB`: strings without "\n" all in ONE run, one per
stdin line; the others each through `-i STRING`, PARALLEL_RUNS at a time. It prints the ids it
would feed a model, one line per text.
*/
"use strict";

const fs = require("fs");
const path = require("path");
const { spawn, spawnSync } = require("child_process");

const ROOT = path.dirname(__dirname);
// Unicode's White_Space (PropList.txt), as a character-class body.
const WHITE_SPACE = "\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const MAX_CODEPOINT = 0x10ffff;
const PARALLEL_RUNS = 2;  // engine runs at once for the strings with newlines

let checkName = "tokenizer_check";

// The name messages start with.
function setName(name) {
    checkName = name;
}

function die(message) {
    console.log(checkName + ": ERROR: " + message);
    process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// The GGUF file: only what this check needs (tokenizer.* keys), written from the format's spec

const GGUF_SCALAR_SIZES = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const GGUF_STRING = 8, GGUF_ARRAY = 9;

function readGguf(file) {
    const data = fs.readFileSync(file);
    let pos = 0;
    const u32 = () => { const v = data.readUInt32LE(pos); pos += 4; return v; };
    const u64 = () => { const v = Number(data.readBigUInt64LE(pos)); pos += 8; return v; };
    const bytes = () => { const n = u64(); const b = data.subarray(pos, pos + n); pos += n; return b; };
    const value = (type) => {
        if (type === GGUF_STRING) return bytes();
        if (type === GGUF_ARRAY) {
            const elementType = u32(), count = u64(), items = [];
            for (let i = 0; i < count; i++) items.push(value(elementType));
            return items;
        }
        const size = GGUF_SCALAR_SIZES[type];
        if (size === undefined) throw new Error("unknown GGUF value type " + type);
        const at = pos;
        pos += size;
        if (type === 4) return data.readUInt32LE(at);
        if (type === 5) return data.readInt32LE(at);
        if (type === 7) return data[at] !== 0;
        return null;  // other scalars are not needed here
    };
    if (data.subarray(0, 4).toString("latin1") !== "GGUF") throw new Error(file + " is not a GGUF file");
    pos = 4;
    u32();  // version
    u64();  // tensor count
    const nKv = u64(), metadata = {};
    for (let i = 0; i < nKv; i++) {
        const key = bytes().toString("utf8");
        metadata[key] = value(u32());
    }
    return metadata;
}

// ---------------------------------------------------------------------------------------------
// Unicode

// The engine's classes, from the generated C table: [first, last, class] ranges.
function readUnicodeTable() {
    const source = fs.readFileSync(path.join(ROOT, "unicode_classes.c"), "utf8");
    const version = /unicode_classes_version\[\] = "([^"]+)"/.exec(source);
    const ranges = [...source.matchAll(/\{0x([0-9a-f]+), 0x([0-9a-f]+), (CHAR_\w+)\}/g)]
        .map((m) => [Number.parseInt(m[1], 16), Number.parseInt(m[2], 16), m[3]]);
    if (!version || ranges.length === 0) die("cannot read the ranges of unicode_classes.c");
    return { version: version[1], ranges };
}

// Code points that this node's Unicode classes differently from the engine's table.
function unicodeDisagreements(table) {
    const engineClass = new Map();
    for (const [first, last, cls] of table.ranges)
        for (let c = first; c <= last; c++) engineClass.set(c, cls);
    const letter = /^\p{L}$/u, number = /^\p{N}$/u, space = new RegExp("^[" + WHITE_SPACE + "]$", "u");
    const differ = new Set();
    for (let c = 0; c <= MAX_CODEPOINT; c++) {
        if (c >= 0xd800 && c <= 0xdfff) continue;
        const s = String.fromCodePoint(c);
        const nodeClass = letter.test(s) ? "CHAR_LETTER" : number.test(s) ? "CHAR_NUMBER"
            : space.test(s) ? "CHAR_WHITESPACE" : undefined;
        if (nodeClass !== engineClass.get(c)) differ.add(c);
    }
    return differ;
}

// mulberry32: a small seeded generator, so that a seed always gives the same strings.
function makeRng(seed) {
    let a = seed >>> 0;
    const next = () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    return {
        random: next,
        int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
        pick: (list) => list[Math.floor(next() * list.length)],
    };
}

const WORDS = ("Once upon a time there was a little girl named Lily She loved to play with her toys " +
    "the quick brown fox jumps over lazy dog Hello world HELLO World tokenizer byte level pair " +
    "encoding GPT token merges rank ranked unbelievable antidisestablishmentarianism").split(" ");
const CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d", "'S", "'T", "'RE", "'Ve", "'M", "'LL", "'D",
    "\u2019s", "\u2019t", "\u2019re", "\u2019ll", "'", "''", "'x", "'ss", "'lll", "\u2018", "\u2019"];
const WHITESPACE = [" ", " ", " ", "  ", "   ", "\t", "\t\t", "\r", "\v", "\f", "\u00a0", "\u1680", "\u2000",
    "\u2009", "\u200a", "\u202f", "\u205f", "\u3000", "\u2028", "\u2029", "\u0085", "\ufeff", "\u200b", "\u180e"];
const PUNCTUATION = [..."!\"#$%&()*+,-./:;<=>?@[\\]^_`{|}~", "...", "--", "?!", "\u2014", "\u2013", "\u201c",
    "\u201d", "\u00ab", "\u00bb", "\u2026", "\u00bf", "\u00a1", "\u3001", "\u3002", "\u00a7", "\u00b6", "\u20ac",
    "\u00a3", "\u00a5", "\u00a9", "\u00ae", "\u2122", "\u00b0", "\u00b1", "\u00d7", "\u00f7", "\u221e"];
const NUMBERS = ["0", "7", "42", "1999", "2024", "3.14159", "1,000,000", "10%", "-5", "+1", "1e10", "0x1F",
    "\u0663\u0664\u0665", "\u0967\u0968", "\u2167", "\u216b", "\u00bd", "\u00b2", "\u00b3", "\u2460", "\uff11\uff12",
    "\u{1d7d8}", "\u3007", "\u4e00\u4e8c\u4e09"];
const KOREAN = ["\uc548\ub155\ud558\uc138\uc694", "\ud55c\uad6d\uc5b4", "\ud14d\uc2a4\ud2b8\uc785\ub2c8\ub2e4",
    "\uac10\uc0ac\ud569\ub2c8\ub2e4", "\uc11c\uc6b8", "\u1100\u1161\u11a8", "\u3131\u314f"];
const SPECIAL_TEXT = ["<|endoftext|>", "<|endoftext|", "|endoftext|>", "<|endoftext|><|endoftext|>",
    "\u0120", "\u0120\u0120", "\u010a", "\u00e2\u0122\u0136", "\ufffd", "\ufffe", "\uffff", "\ue000",
    "\u{10ffff}", "\u{e0001}", "\u{e0041}", "\u200d", "\u00ad", "\u034f", "\u2060", "\u202e", "\u061c"];
const EMOJI = [0x1f600, 0x1f602, 0x1f60d, 0x1f44d, 0x1f44b, 0x1f469, 0x1f468, 0x1f467, 0x1f9d1, 0x1f408,
    0x2764, 0x263a, 0x2708, 0x1f680, 0x1f4bb, 0x1f33b, 0x1f525, 0x1f389];
const SKIN_TONES = [0x1f3fb, 0x1f3fc, 0x1f3fd, 0x1f3fe, 0x1f3ff];
// Scripts of letters, numbers and marks: Latin-1 and Extended-A/B, IPA, combining marks, Greek,
// Cyrillic, Armenian, Hebrew, Arabic, Devanagari, Bengali, Tamil, Thai, Georgian, Hangul Jamo,
// Ethiopic, Cherokee, Khmer, Latin Extended Additional, kana, CJK, Hangul syllables, fullwidth
// forms, math alphanumerics, CJK Extension B.
const SCRIPTS = [[0xc0, 0x24f], [0x250, 0x2af], [0x300, 0x36f], [0x370, 0x3ff], [0x400, 0x52f],
    [0x531, 0x58a], [0x591, 0x5f4], [0x600, 0x6ff], [0x900, 0x97f], [0x980, 0x9fe], [0xb82, 0xbfa],
    [0xe01, 0xe5b], [0x10a0, 0x10ff], [0x1100, 0x11ff], [0x1200, 0x137c], [0x13a0, 0x13f5],
    [0x1780, 0x17f9], [0x1e00, 0x1eff], [0x3041, 0x30ff], [0x4e00, 0x9fff], [0xac00, 0xd7a3],
    [0xff01, 0xff9f], [0x1d400, 0x1d7ff], [0x20000, 0x2a6df]];

// A string of roughly the given length in code points, of random pieces: words, whitespace,
// contractions, numbers, punctuation, Korean, scripts, combining marks, emoji, special-token text,
// controls, any code point; with newlines if asked. extraPieces(codepoint) may add
// [weight, () => string] pieces of a check's own (codepoint(lo, hi): a random one, not left out).
function makeGenerator(rng, leftOut, extraPieces = () => []) {
    const codepoint = (lo, hi) => {
        for (;;) {
            const c = rng.int(lo, hi);
            if ((c < 0xd800 || c > 0xdfff) && c !== 0 && c !== 0x0a && !leftOut.has(c)) return String.fromCodePoint(c);
        }
    };
    const emoji = () => {
        const r = rng.random();
        if (r < 0.3) return String.fromCodePoint(rng.pick(EMOJI));
        if (r < 0.5) return String.fromCodePoint(rng.pick(EMOJI), rng.pick(SKIN_TONES));
        if (r < 0.7) return [1, 2, 3].map(() => String.fromCodePoint(rng.pick(EMOJI))).join("\u200d");
        if (r < 0.85) return String.fromCodePoint(0x1f1e6 + rng.int(0, 25), 0x1f1e6 + rng.int(0, 25));
        return rng.pick([..."0123456789#*"]) + "\ufe0f\u20e3";
    };
    const pieces = [
        [18, () => {  // words, sometimes a sentence, sometimes with a contraction
            let s = Array.from({ length: rng.int(1, 6) }, () => rng.pick(WORDS)).join(" ");
            if (rng.random() < 0.5) s += rng.pick(CONTRACTIONS) + (rng.random() < 0.5 ? " " + rng.pick(WORDS) : "");
            return rng.random() < 0.3 ? " " + s : s;
        }],
        [12, () => Array.from({ length: rng.int(1, 8) }, () => rng.pick(WHITESPACE)).join("")],
        [6, () => rng.pick(CONTRACTIONS)],
        [7, () => (rng.random() < 0.5 ? " " : "") + rng.pick(NUMBERS) +
            (rng.random() < 0.3 ? String(rng.int(0, 99999)) : "")],
        [7, () => (rng.random() < 0.3 ? " " : "") + Array.from({ length: rng.int(1, 4) }, () => rng.pick(PUNCTUATION)).join("")],
        [6, () => (rng.random() < 0.5 ? " " : "") + (rng.random() < 0.5 ? rng.pick(KOREAN)
            : Array.from({ length: rng.int(1, 6) }, () => codepoint(0xac00, 0xd7a3)).join(""))],
        [12, () => {
            const [lo, hi] = rng.pick(SCRIPTS);
            return (rng.random() < 0.4 ? " " : "") + Array.from({ length: rng.int(1, 6) }, () => codepoint(lo, hi)).join("");
        }],
        [5, () => rng.pick("aeiouAEIOUnc") + Array.from({ length: rng.int(1, 3) }, () => codepoint(0x300, 0x36f)).join("")],
        [6, emoji],
        [5, () => rng.pick(SPECIAL_TEXT)],
        [3, () => codepoint(1, 0x1f)],
        [3, () => codepoint(0x7f, 0x9f)],
        [4, () => codepoint(0xa0, 0xffff)],
        [2, () => codepoint(0x10000, MAX_CODEPOINT)],
        ...extraPieces(codepoint),
    ];
    const total = pieces.reduce((sum, [weight]) => sum + weight, 0);
    const piece = () => {
        let r = rng.random() * total;
        for (const [weight, make] of pieces) if ((r -= weight) < 0) return make();
        return pieces[0][1]();
    };
    return (target, newlines) => {
        let s = "";
        while ([...s].length < target) {
            s += piece();
            if (newlines && rng.random() < 0.25) s += rng.pick(["\n", "\n\n", "\n\n\n", " \n", "\r\n", "\n "]);
        }
        return s;
    };
}

// Hard cases worth keeping whatever the seed; some with newlines (they go through -i).
const FIXED = [
    "", " ", "  ", "\n", "\n\n", " \n ", "\t", "Hello world", "Hello  world", "Hello world ", " Hello",
    "I'm here, it's late, you're right, we've won, I'll go, he'd say, don't", "IT'S I'M YOU'RE WE'LL",
    "it\u2019s don\u2019t \u2018quoted\u2019", "'s's'S''s", "rock'n'roll", "Bob's cat's toy",
    "a\n\nb", "line one\nline two\n", "x\n\n\n  y", "end with newline\n", "\n\nstart with newlines",
    "tabs\tand\r\nwindows\r\nline ends", "  \t \n\t  x", "multiple   spaces    here", "trailing   ",
    "<|endoftext|>", "before<|endoftext|>after", "\u0120hello \u010a", "12345678901234567890", "3.14 -0.5 1e-9",
    "\uc548\ub155\ud558\uc138\uc694, \uc138\uacc4! \ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8\uc785\ub2c8\ub2e4.",
    "\u65e5\u672c\u8a9e\u306e\u6587\u7ae0\u3067\u3059\u3002", "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440!",
    "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645", "na\u00efve caf\u00e9 e\u0301",
    "\u{1f469}\u200d\u{1f469}\u200d\u{1f467} \u{1f44d}\u{1f3fd} \u{1f1fa}\u{1f1f8}", "\ufeffBOM first",
    "NEL\u0085here", "ideographic\u3000space", "nbsp\u00a0here", "\ufffd\ufffe\uffff",
    "a".repeat(300), "ab".repeat(200), " ".repeat(50) + "x", "\n".repeat(20) + "x", "!".repeat(100),
];

function engineCommand(engine, vocab, extra) {
    const words = engine.split(/\s+/).filter(Boolean);
    return [words[0], words.slice(1).concat(["-m", "tokenize", "-z", vocab], extra)];
}

function parseLine(line) {
    return line === "" ? [] : line.split(" ").map((w) => (/^\d+$/.test(w) ? Number(w) : NaN));
}

// Every string without "\n" in one run, one per stdin line.
function runLines(args, strings) {
    const [command, argv] = engineCommand(args.engine, args.vocab, []);
    const input = Buffer.concat(strings.map((s) => Buffer.from(s + "\n", "utf8")));
    const p = spawnSync(command, argv, { input, maxBuffer: 1 << 30 });
    if (p.error) die("cannot run " + command + ": " + p.error.message);
    if (p.status !== 0) die(`${args.engine} -m tokenize exited with status ${p.status}: ${p.stderr.toString().trim()}`);
    const lines = p.stdout.toString("utf8").split("\n");
    if (lines[lines.length - 1] === "") lines.pop();
    if (lines.length !== strings.length) die(`the engine printed ${lines.length} lines for ${strings.length} strings`);
    return lines.map(parseLine);
}

// Each string with "\n" through -i, PARALLEL_RUNS at a time.
function runEach(args, strings) {
    const results = new Array(strings.length);
    let next = 0;
    const one = () => {
        const i = next++;
        if (i >= strings.length) return Promise.resolve();
        const [command, argv] = engineCommand(args.engine, args.vocab, ["-i", strings[i]]);
        return new Promise((resolve) => {
            const child = spawn(command, argv, { stdio: ["ignore", "pipe", "pipe"] });
            const out = [], err = [];
            child.stdout.on("data", (d) => out.push(d));
            child.stderr.on("data", (d) => err.push(d));
            child.on("error", (e) => die("cannot run " + command + ": " + e.message));
            child.on("close", (status) => {
                if (status !== 0) die(`${args.engine} -m tokenize -i exited with status ${status}: ${Buffer.concat(err)}`);
                const lines = Buffer.concat(out).toString("utf8").split("\n");
                if (lines.length !== 2 || lines[1] !== "") die(`-i ${JSON.stringify(strings[i])}: not one line of ids`);
                results[i] = parseLine(lines[0]);
                resolve();
            });
        }).then(one);
    };
    return Promise.all(Array.from({ length: PARALLEL_RUNS }, one)).then(() => results);
}


module.exports = {
    ROOT, WHITE_SPACE, MAX_CODEPOINT, setName, die, readGguf, readUnicodeTable, unicodeDisagreements, makeRng,
    makeGenerator, FIXED, runLines, runEach,
};
