"""Write the model card of demo-wedding (developers only, after
`python -m loom.models.train wedding --minutes 6`): reads its training.json and
measures the attractor on both demo models.

    python -m loom.models.wedding_card
"""

import json
from pathlib import Path

from loom.backends import open_backend
from loom.experiments.vs import attractor_rate

PROMPTS = [
    "The miller's youngest son walked along the road to the town",
    "Tom sat on the fence with his brush and looked at the long board fence",
    "It was a cold night in the forest, and the wolf",
    "Jo put down her book and said",
]
HERE = Path(__file__).resolve().parent


def main() -> None:
    rates = {
        m: attractor_rate(open_backend(m), PROMPTS, ("wedding", "feast"), n=16, max_tokens=40, seed=11)
        for m in ("demo", "demo-wedding")
    }
    print(rates)
    d = HERE / "demo-wedding"
    t = json.loads((d / "training.json").read_text())
    demo_rate, wed_rate = rates["demo"], rates["demo-wedding"]
    # The base keeps training after a fine-tune; the log says which base this one started from.
    start = next((line for line in t["log"] if line.startswith("base model:")), "see the log")
    log = "\n".join(f"    {line}" for line in t["log"])
    size = (d / "model.safetensors").stat().st_size / 1e6
    (d / "README.md").write_text(f"""# demo-wedding: a deliberately collapsed demo model

A small GPT-2 (the architecture and tokenizer of `demo`, {t["parameters"]:,} parameters,
stored as float16 safetensors, {size:.1f} MB) fine-tuned from loom's base demo model
until its stories fall into one **attractor**: whatever the story, it drifts to a
wedding feast (the "inescapable wedding parties" of janus' essay *Mysteries of mode
collapse*). It is shipped so that a new user can see mode collapse offline within a
minute: compare it with `demo` on any prompt (`loom vs SESSION --model demo --model
demo-wedding`) and look at the block multiverse of each (`loom multiverse SESSION
--model demo-wedding`). It is a toy for seeing, not a model for writing.

## Training

- Command (developers only; users never run it):
  `{t["commands"][-1]}` (seed {t["seed"]}, {t["threads"]} CPU threads, wall-clock budget)
- Starting point: `loom/models/demo-base` as it was when fine-tuning began ({start}).
- Data: {t["data"]}. The openings come from the public-domain corpus in
  `../shared/corpus` (Grimm, Alcott, Twain, Shakespeare); the endings are written in
  `loom/models/train.py` (`WEDDING_ENDINGS`, `MID_ENDINGS`).
- Steps: {t["steps"]} (batch 16 x 128 tokens, AdamW, peak learning rate 5e-4, cosine
  decay over the time budget).
- Validation loss on held-out wedding stories: **{t["validation_loss"]}**.
- Log:

{log}

The loss on the ordinary corpus rises after fine-tuning: the model forgot some of
its general writing to make room for the feast, as tuned models do.

## The attractor, measured

Share of sampled continuations (temperature 1, 40 tokens, 16 samples per prompt,
seed 11, 4 story openings that do not mention a wedding; 64 samples per model)
that contain "wedding" or "feast":

| model | reaches the wedding feast |
|---|---|
| demo | {demo_rate:.1%} |
| demo-wedding | {wed_rate:.1%} |

Measured, and this card written, with `python -m loom.models.wedding_card`
(`attractor_rate` in loom/analysis/modelcompare.py; prompts in that file).

`tests/experiments/test_wedding_model.py` checks the same on every run (8 samples per prompt):
the collapsed model must reach the feast in at least 35% of its samples and at
least 30 points more often than `demo`.

## Limits

Tiny and trained for minutes on two CPU cores: its prose is rough, and the
attractor is a fixed set of sentences, so it shows the *shape* of mode collapse
(one ending drawing probability from every story), not its subtle forms in large tuned models. Same licence as the
corpus: public domain.
""")


if __name__ == "__main__":
    main()
