"""The held-out behavioural suite: what a sentiment model should get right, one capability at a time.

Built with the methodology of CheckList (Ribeiro, Wu, Guestrin & Singh, "Beyond Accuracy:
Behavioral Testing of NLP Models with CheckList", ACL 2020): templates filled from word lists
give many small cases per capability. Two kinds of test:

- minimum functionality (MFT): each case has an expected label ("The film was not superb." is
  negative); it passes when the model predicts that label;
- invariance (INV): a case is a sentence and a perturbation of it that should not matter (another
  name, a typo, punctuation, an HTML line break, casing); it passes when both get the same label.

Templates and sentiment words here are held out: training code never imports this module, and
``textcnn/augment.py`` (what training may use) has its own, disjoint from these
(``tests/test_augment.py`` checks it). The suite is deterministic: the same cases every run.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from textcnn.augment import Lexicon, Template, fill

# --- held-out sentiment words ----------------------------------------------------------------------

POSITIVE_ADJECTIVES = (
    "great", "wonderful", "amazing", "enjoyable", "fantastic", "funny", "superb", "touching", "delightful",
    "charming", "outstanding", "fascinating", "stunning", "compelling", "engaging", "nice", "hilarious",
    "smart",
)
NEGATIVE_ADJECTIVES = (
    "terrible", "boring", "poor", "stupid", "annoying", "weak", "lame", "dreadful", "painful", "bland",
    "unwatchable", "silly", "messy", "pretentious", "shallow", "irritating", "laughable", "unbearable",
)
POSITIVE_VERBS = (("enjoy", "enjoyed"), ("adore", "adored"), ("appreciate", "appreciated"),
                  ("treasure", "treasured"), ("relish", "relished"))
NEGATIVE_VERBS = (("dislike", "disliked"), ("loathe", "loathed"), ("detest", "detested"), ("regret", "regretted"))
POSITIVE_NOUNS = ("gem", "delight", "joy", "success", "marvel", "knockout")
NEGATIVE_NOUNS = ("mess", "failure", "letdown", "catastrophe", "travesty", "nightmare")
INTENSIFIERS = ("very", "really", "extremely", "incredibly", "so")
DIMINISHERS = ("somewhat", "a bit", "slightly", "pretty", "a tad")
SUBJECTS = ("the film", "this movie", "the acting", "the story", "the performance", "the series", "the season",
            "the sequel", "the documentary", "the restaurant", "the album")
NAMES = ("Emma", "James", "Sofia", "Ahmed", "Laura", "Daniel", "Yuki", "Marco")
HELD_OUT_LEXICON = Lexicon((NEGATIVE_ADJECTIVES, POSITIVE_ADJECTIVES), (NEGATIVE_VERBS, POSITIVE_VERBS),
                           (NEGATIVE_NOUNS, POSITIVE_NOUNS), SUBJECTS, NAMES, INTENSIFIERS, DIMINISHERS,
                           auxiliaries=("did not", "didn't", "never", "won't", "wouldn't"))

# --- held-out templates, by capability ---------------------------------------------------------------
# The same slot language as textcnn.augment: _a words decide the label (flipped by flip=True), _b
# words take the opposite polarity.

TEMPLATES = (
    Template("vocabulary: adjectives", "The film was {adj_a}."),
    Template("vocabulary: adjectives", "What a {adj_a} movie."),
    Template("vocabulary: adjectives", "I found {subject} {adj_a}."),
    Template("vocabulary: verbs", "I {verbed_a} this movie."),
    Template("vocabulary: verbs", "We all {verbed_a} watching it."),
    Template("vocabulary: verbs", "Everyone in the room {verbed_a} the film."),
    Template("vocabulary: nouns", "This movie is a {noun_a}."),
    Template("vocabulary: nouns", "What a {noun_a} of a film!"),
    Template("negation: positive adjectives", "The film was not {adj_a}.", flip=True),
    Template("negation: positive adjectives", "This movie wasn't {adj_a} at all.", flip=True),
    Template("negation: positive adjectives", "{Subject} was never {adj_a}.", flip=True),
    Template("negation: positive adjectives", "There was nothing {adj_a} about it at all.", flip=True),
    Template("negation: positive adjectives", "There were no {adj_a} moments.", flip=True),
    Template("negation: negative adjectives", "The film was not {adj_a}.", flip=True),
    Template("negation: negative adjectives", "This movie wasn't {adj_a} at all.", flip=True),
    Template("negation: negative adjectives", "{Subject} was never {adj_a}.", flip=True),
    Template("negation: negative adjectives", "There was nothing {adj_a} about it at all.", flip=True),
    Template("negation: negative adjectives", "There were no {adj_a} moments.", flip=True),
    Template("negation: positive verbs", "I {aux} {verb_a} this movie.", flip=True),
    Template("negation: positive verbs", "We did not {verb_a} it at all.", flip=True),
    Template("negation: positive verbs", "No one will {verb_a} this film.", flip=True),
    Template("negation: positive verbs", "I don't {verb_a} it at all.", flip=True),
    Template("negation: positive verbs", "I never {verbed_a} a single minute of it.", flip=True),
    Template("negation: negative verbs", "I {aux} {verb_a} this movie.", flip=True),
    Template("negation: negative verbs", "We did not {verb_a} it at all.", flip=True),
    Template("negation: negative verbs", "No one will {verb_a} this film.", flip=True),
    Template("negation: negative verbs", "I don't {verb_a} it at all.", flip=True),
    Template("negation: negative verbs", "I never {verbed_a} a single minute of it.", flip=True),
    Template("contrast", "The plot was {adj_b}, but overall the movie was {adj_a}."),
    Template("contrast", "Although the acting was {adj_b}, the film was {adj_a}."),
    Template("contrast", "It had some {adj_b} scenes, but I {verbed_a} it."),
    Template("contrast", "The movie was {adj_a}, although the ending was {adj_b}."),
    Template("intensifiers", "The movie was {intensifier} {adj_a}."),
    Template("intensifiers", "{Subject} is {intensifier} {adj_a}."),
    Template("diminishers", "The movie was {diminisher} {adj_a}."),
    Template("diminishers", "{Subject} is {diminisher} {adj_a}."),
)
# how many cases each template gives per polarity (capabilities in one direction say so by name)
CASES_PER_POLARITY = {"contrast": 16, "intensifiers": 10, "diminishers": 10}
ONE_POLARITY = {"negation: positive adjectives": 1, "negation: negative adjectives": 0,
                "negation: positive verbs": 1, "negation: negative verbs": 0}
# invariance: sentences whose label must not change when a name, a typo, punctuation, a line break
# or the casing changes
INVARIANCE_TEMPLATES = (
    Template("invariance", "{name} was {adj_a} in this film."),
    Template("invariance", "I watched it with {name} and we {verbed_a} it."),
    Template("invariance", "{Subject} is {adj_a}. {name} said so too."),
    Template("invariance", "{name} thought the film was not {adj_a}.", flip=True),
)
INVARIANCE_BASES = 40  # sentences perturbed by each perturbation


@dataclass(frozen=True)
class Case:
    capability: str
    text: str
    label: int | None  # the expected label (MFT); None for invariance, where ``pair`` must agree
    pair: str | None = None  # the perturbed text (INV)


def _expand(template: Template, polarity: int, rng: random.Random, count: int) -> list[tuple[str, int]]:
    """``count`` distinct fillings of ``template`` with ``polarity`` (fewer when there are not that many)."""
    seen: dict[str, int] = {}
    for _ in range(count * 20):
        text, label = fill(template, polarity, HELD_OUT_LEXICON, rng)
        seen.setdefault(text, label)
        if len(seen) == count:
            break
    return list(seen.items())


def _cases_per_template(template: Template) -> int:
    if template.capability in CASES_PER_POLARITY:
        return CASES_PER_POLARITY[template.capability]
    slots = template.text
    if "{adj_a}" in slots:
        return len(POSITIVE_ADJECTIVES)
    if "{noun_a}" in slots:
        return len(POSITIVE_NOUNS)
    return 12  # verbs: each verb with several auxiliaries or subjects


def typo(text: str, rng: random.Random) -> str:
    """Swap two adjacent letters inside one word of four letters or more (CheckList's typo perturbation)."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if sum(ch.isalpha() for ch in w) >= 4]
    i = rng.choice(candidates)
    word = words[i]
    j = rng.randrange(len(word.rstrip(".,!?")) - 1)
    words[i] = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    return " ".join(words)


def perturbations(text: str, rng: random.Random) -> dict[str, str]:
    """The invariance perturbations of ``text``: one per capability."""
    other = rng.choice([n for n in NAMES if n not in text])
    renamed = text
    for name in NAMES:
        renamed = renamed.replace(name, other)
    stripped = text.rstrip(".!?")
    return {
        "invariance: names": renamed,
        "invariance: typos": typo(text, rng),
        "invariance: punctuation": stripped + ("!!!" if rng.random() < 0.5 else ""),
        "invariance: line breaks": text.replace(". ", ".<br /><br />") + "<br />",
        "invariance: casing": text.upper() if rng.random() < 0.5 else text.lower(),
    }


def build_suite(seed: int = 0) -> list[Case]:
    """Every case of the suite, in a fixed order."""
    rng = random.Random(seed)
    cases: list[Case] = []
    for template in TEMPLATES:
        polarities = (ONE_POLARITY[template.capability],) if template.capability in ONE_POLARITY else (0, 1)
        filled = [_expand(template, polarity, rng, _cases_per_template(template)) for polarity in polarities]
        count = min(len(f) for f in filled)  # as many of each polarity
        for fillings in filled:
            cases.extend(Case(template.capability, text, label) for text, label in fillings[:count])
    bases = []
    for i in range(INVARIANCE_BASES):
        template = INVARIANCE_TEMPLATES[i % len(INVARIANCE_TEMPLATES)]
        bases.append(fill(template, (i // len(INVARIANCE_TEMPLATES)) % 2, HELD_OUT_LEXICON, rng)[0])
    for text in bases:
        for capability, perturbed in perturbations(text, rng).items():
            cases.append(Case(capability, text, None, perturbed))
    return cases


def capabilities(cases: list[Case]) -> list[str]:
    """Capability names in suite order."""
    return list(dict.fromkeys(case.capability for case in cases))
