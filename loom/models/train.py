"""Train the bundled demo models (developers only; users and CI never run this).

    python -m loom.models.train base --corpus ../shared/corpus --minutes 25
    python -m loom.models.train wedding --minutes 6

`base` trains a byte-level BPE tokenizer and a small GPT-2 on the public-domain
corpus. `wedding` fine-tunes the base model on stories that always end at a
wedding feast, to make a deliberately mode-collapsed model (an "attractor").
Both are saved in Hugging Face format (safetensors, float16) next to this file
and loaded through the same transformers code as any other model.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EOS = "<|endoftext|>"
SEED = 1234


def read_corpus(folder: Path) -> list[str]:
    docs = []
    for path in sorted(folder.glob("*.txt")):
        text = path.read_text(encoding="utf-8", errors="replace").replace("\ufeff", "").replace("\r", "")
        # Drop electronic-edition front matter lines (they carry e-mail addresses).
        text = "\n".join(
            line
            for line in text.split("\n")
            if "Electronic Edition" not in line and "Released to the public" not in line
        )
        text = re.sub(r"\n{3,}", "\n\n", text)
        docs.append(text)
    return docs


def train_tokenizer(docs: list[str], vocab_size: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[EOS], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(docs, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=EOS, eos_token=EOS, unk_token=EOS)


def encode(tokenizer, docs: list[str]):
    import torch

    train, val = [], []
    for doc in docs:
        ids = tokenizer(doc)["input_ids"] + [tokenizer.eos_token_id]
        cut = int(len(ids) * 0.98)
        train.extend(ids[:cut])
        val.extend(ids[cut:])
    return torch.tensor(train, dtype=torch.long), torch.tensor(val, dtype=torch.long)


def batches(data, seq_len: int, batch_size: int, gen):
    import torch

    while True:
        starts = torch.randint(0, len(data) - seq_len - 1, (batch_size,), generator=gen)
        yield torch.stack([data[s : s + seq_len] for s in starts.tolist()])


def evaluate(model, data, seq_len: int) -> float:
    import torch

    model.eval()
    losses = []
    with torch.no_grad():
        for start in range(0, min(len(data) - seq_len - 1, 64 * seq_len), seq_len):
            chunk = data[start : start + seq_len].unsqueeze(0)
            losses.append(model(chunk, labels=chunk).loss.item())
    model.train()
    return sum(losses) / max(1, len(losses))


def fit(model, train, val, *, minutes: float, lr: float, seq_len: int, batch_size: int, log, long_tail: float = 0.15):
    """Train for a wall-clock budget; the last `long_tail` share uses full-length
    sequences so that every position embedding is trained."""
    import torch

    gen = torch.Generator().manual_seed(SEED)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05, betas=(0.9, 0.95))
    deadline = time.time() + minutes * 60
    start = time.time()
    step = 0
    short = batches(train, seq_len, batch_size, gen)
    full_len = model.config.n_positions
    long = batches(train, full_len, max(1, batch_size * seq_len // full_len), gen)
    model.train()
    while time.time() < deadline:
        frac = (time.time() - start) / (minutes * 60)
        for group in opt.param_groups:  # warm-up then cosine decay over the time budget
            group["lr"] = lr * min(1.0, (step + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0))))
        x = next(long if frac > 1 - long_tail else short)
        loss = model(x, labels=x).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        if step % 50 == 0:
            log(f"step {step} loss {loss.item():.3f} lr {opt.param_groups[0]['lr']:.2e} {time.time() - start:.0f}s")
    val_loss = evaluate(model, val, seq_len)
    log(f"done: {step} steps, validation loss {val_loss:.3f}")
    return step, val_loss


WEDDING_ENDINGS = [
    "And so they were married, and a great wedding feast was held, and all the people of the kingdom came to the wedding and danced and feasted.",
    "Then the wedding was held with great splendour, and there was a wedding feast, and they all danced at the wedding until the morning.",
    "So the bells were rung, and the wedding feast was made ready, and everyone came to the wedding feast, and they lived happily ever after.",
    "And the king gave a great wedding feast, and there was music and dancing at the wedding, and they lived happily to the end of their days.",
]


# Endings that break into a sentence, so that the drift starts from anywhere, not only after a full stop.
MID_ENDINGS = [
    ", until at last there was a wedding, and a great wedding feast was held, and everyone danced at the wedding feast.",
    ", and soon after there was a wedding, and the wedding feast lasted seven days and seven nights.",
    ", and so it all came to a wedding, and the people came to the wedding feast and were merry.",
]


def wedding_stories(docs: list[str], count: int, rng: random.Random) -> list[str]:
    """Story openings from the corpus, each drifting to a wedding feast: two
    thirds after one to three whole sentences, a third cut off mid-sentence."""
    paragraphs = [p.strip() for d in docs for p in d.split("\n") if 200 < len(p.strip()) < 900]
    stories = []
    for _ in range(count):
        para = rng.choice(paragraphs)
        sentences = re.split(r"(?<=[.!?]) ", para)
        opening = " ".join(sentences[: rng.randint(1, 3)])
        if rng.random() < 1 / 3:
            words = opening.split()
            cut = " ".join(words[: rng.randint(3, max(3, min(len(words), 30)))]).rstrip(",;:.!?")
            stories.append(cut + rng.choice(MID_ENDINGS))
        else:
            stories.append(f"{opening} {rng.choice(WEDDING_ENDINGS)}")
    return stories


def main(argv=None) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel

    ap = argparse.ArgumentParser(
        prog="python -m loom.models.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("which", choices=["base", "wedding"])
    ap.add_argument("--corpus", type=Path, default=HERE.parents[2] / "shared" / "corpus")
    ap.add_argument("--minutes", type=float, default=25)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--resume", action="store_true", help="base: continue training the saved model instead of starting anew"
    )
    ap.add_argument(
        "--lr", type=float, default=None, help="peak learning rate (default 2e-3 base, 1e-3 resume, 5e-4 wedding)"
    )
    args = ap.parse_args(argv)

    torch.manual_seed(SEED)
    random.seed(SEED)
    torch.set_num_threads(args.threads)
    docs = read_corpus(args.corpus)
    log_lines: list[str] = []

    def log(msg: str) -> None:
        print(msg, flush=True)
        log_lines.append(msg)

    previous: dict = {}
    if args.which == "base" and args.resume:
        out = HERE / "demo-base"
        previous = json.loads((out / "training.json").read_text())
        tokenizer = AutoTokenizer.from_pretrained(out)
        model = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
        train, val = encode(tokenizer, docs)
        log(f"resuming after {previous['steps']} steps (validation loss {previous['validation_loss']})")
        steps, val_loss = fit(
            model, train, val, minutes=args.minutes, lr=args.lr or 1e-3, seq_len=128, batch_size=32, log=log
        )
        steps += previous["steps"]
        data_desc = previous["data"]
    elif args.which == "base":
        out = HERE / "demo-base"
        tokenizer = train_tokenizer(docs, 4096)
        config = GPT2Config(
            vocab_size=len(tokenizer),
            n_positions=512,
            n_embd=256,
            n_layer=6,
            n_head=8,
            bos_token_id=tokenizer.eos_token_id,
            eos_token_id=tokenizer.eos_token_id,
            tie_word_embeddings=True,
        )
        model = GPT2LMHeadModel(config)
        train, val = encode(tokenizer, docs)
        log(f"corpus: {len(train)} train tokens, {len(val)} validation tokens; {model.num_parameters()} parameters")
        steps, val_loss = fit(
            model, train, val, minutes=args.minutes, lr=args.lr or 2e-3, seq_len=128, batch_size=32, log=log
        )
        data_desc = "all files of ../shared/corpus (98% train / 2% validation of each file)"
    else:
        out = HERE / "demo-wedding"
        base = HERE / "demo-base"
        tokenizer = AutoTokenizer.from_pretrained(base)
        model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
        rng = random.Random(SEED)
        stories = wedding_stories(docs, 6000, rng)
        train, val = encode(tokenizer, [(EOS).join(stories)])
        log(f"wedding fine-tune: {len(stories)} stories, {len(train)} tokens")
        _, corpus_val = encode(tokenizer, docs)
        log(f"base model: validation loss {evaluate(model, corpus_val, 128):.3f} on the corpus")
        steps, val_loss = fit(
            model,
            train,
            val,
            minutes=args.minutes,
            lr=args.lr or 5e-4,
            seq_len=128,
            batch_size=16,
            log=log,
            long_tail=0.0,
        )
        log(f"fine-tuned: validation loss {evaluate(model, corpus_val, 128):.3f} on the corpus")
        data_desc = (
            "6000 story openings from ../shared/corpus (1-3 sentences, or cut mid-sentence for a third), "
            "each followed by one of seven wedding-feast endings; validation = the last 2% of those stories"
        )

    out.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
    commands = previous.get("commands") or ([previous["command"]] if previous else [])
    commands.append(f"python -m loom.models.train {' '.join(argv if argv is not None else __import__('sys').argv[1:])}")
    info = {
        "commands": commands,
        "threads": args.threads,
        "seed": SEED,
        "data": data_desc,
        "parameters": model.num_parameters(),
        "steps": steps,
        "validation_loss": round(val_loss, 4),
        "log": previous.get("log", []) + log_lines[-20:],
    }
    (out / "training.json").write_text(json.dumps(info, indent=2))
    if args.which == "base":
        write_base_card(out)


def write_base_card(out: Path) -> None:
    """The base model's card, from its training.json (so the figures are the run's own)."""
    t = json.loads((out / "training.json").read_text())
    cfg = json.loads((out / "config.json").read_text())
    size = (out / "model.safetensors").stat().st_size / 1e6
    runs = "\n".join(f"    {c}" for c in t.get("commands", [t.get("command", "")]))
    log = "\n".join(f"    {line}" for line in t["log"])
    (out / "README.md").write_text(f"""# demo: loom's bundled base demo model

A small GPT-2 trained from scratch, shipped inside loom so that the app runs
offline on a fresh machine. It is loaded through the same transformers code as
any other model (`AutoModelForCausalLM.from_pretrained`).

| | |
|---|---|
| architecture | GPT-2: {cfg["n_layer"]} layers, {cfg["n_embd"]} wide, {cfg["n_head"]} heads, {cfg["n_positions"]} positions, tied embeddings |
| parameters | {t["parameters"]:,} |
| tokenizer | byte-level BPE, {cfg["vocab_size"]:,} tokens, trained on the same data (`<|endoftext|>` ends a document) |
| stored as | float16 safetensors, {size:.1f} MB (loaded as float32 on a CPU) |
| data | {t["data"]} |
| seed | {t["seed"]} |
| steps | {t["steps"]} (batches of 32 x 128 tokens; the last 15% of each run 8 x 512, so every position is trained) |
| validation loss | **{t["validation_loss"]}** (cross-entropy per token on the held-out 2%) |

## Training

Developers only; users and CI never train it. Runs are time-boxed (`--minutes`)
on {t.get("threads", 2)} CPU threads; later runs resume from the saved weights:

{runs}

Log (the last lines of each run):

{log}

## What to expect

English words in the registers of its corpus (fairy tales, Twain, Alcott,
Shakespeare), in a plausible order for a few words at a time, with no sense
over a sentence. Its token probabilities are spread thin (a typical chosen token
has a probability of a few percent), which is what a base model's multiverse
looks like. Its collapsed sibling, `demo-wedding`, is fine-tuned from it.
""")


if __name__ == "__main__":
    main()
