"""Training-side text for reading sentences: short spans of reviews, negation and contrast scope, templated sentences.

IMDb reviews are long, and a review's label says little about any one of its sentences: a
network trained on whole reviews alone learns which words lean positive or negative, but not
what "not", "never" or "but" do to them, and on a one-line input its bias term weighs as much
as the words. Four things here give it short, labelled text to learn that from:

- ``sentence_spans`` cuts reviews into sentences; train.py has the n-gram teacher label each
  span (its own class probabilities for that span alone), so spans carry soft labels;
- ``mark_negation`` marks the words after a negator up to the next punctuation mark (Das & Chen
  2001; Pang, Lee & Vaithyanathan 2002), so that the teacher tells "not good" from "good" wherever
  in the clause the negator is;
- ``mark_contrast`` does the same for the words a contrast overrides (before "but", inside an
  "although" clause), so that the teacher learns from whole reviews how little a conceded "great" says;
- ``synthetic_sentences`` fills this module's templates with this module's word lists: plain
  praise and blame, negated (label flipped), contrasted with "but"/"although" (the main clause
  decides), intensified and softened.

The behavioural suite in ``benchmarks/behavior_suite.py`` measures the same capabilities with its
own templates and its own sentiment words, disjoint from the ones below
(``tests/test_augment.py`` checks that), so what it reports is generalisation, not recall.
"""

from __future__ import annotations

import math
import random
import re
import string
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

# --- sentiment words used for training (the behavioural suite holds out others) ----------------

POSITIVE_ADJECTIVES = (
    "good", "excellent", "beautiful", "brilliant", "entertaining", "perfect", "impressive", "lovely",
    "clever", "moving", "memorable", "gripping", "solid", "witty", "terrific", "refreshing",
    "pleasant", "awesome", "powerful", "inspiring", "thoughtful", "marvelous", "tasty", "reliable",
    "fun", "gorgeous", "heartwarming", "splendid", "magnificent", "exciting", "thrilling", "satisfying",
    "uplifting", "elegant", "vivid", "friendly", "helpful", "comfortable", "delicious", "sturdy",
)
NEGATIVE_ADJECTIVES = (
    "bad", "awful", "horrible", "dull", "disappointing", "predictable", "pointless", "mediocre",
    "ridiculous", "tedious", "pathetic", "forgettable", "clumsy", "confusing", "awkward", "cheap",
    "lousy", "unpleasant", "atrocious", "useless", "stale", "rude", "overrated", "sloppy",
    "slow", "cheesy", "bloated", "lifeless", "incoherent", "uninspired", "tiresome", "disgusting",
    "broken", "greasy", "noisy", "flimsy", "rushed", "dumb", "wooden", "sour",
)
# (base form, past tense)
POSITIVE_VERBS = (("love", "loved"), ("like", "liked"), ("recommend", "recommended"), ("admire", "admired"),
                  ("cherish", "cherished"), ("praise", "praised"), ("applaud", "applauded"), ("value", "valued"),
                  ("welcome", "welcomed"))
NEGATIVE_VERBS = (("hate", "hated"), ("despise", "despised"), ("abhor", "abhorred"), ("resent", "resented"),
                  ("dread", "dreaded"), ("scorn", "scorned"), ("condemn", "condemned"), ("ridicule", "ridiculed"))
POSITIVE_NOUNS = ("masterpiece", "treat", "triumph", "classic", "pleasure", "winner", "highlight")
NEGATIVE_NOUNS = ("disaster", "waste", "disappointment", "joke", "embarrassment", "flop", "trainwreck")

INTENSIFIERS = ("absolutely", "totally", "remarkably", "genuinely", "exceptionally", "truly")
DIMINISHERS = ("rather", "a little", "mildly", "kind of", "sort of", "fairly")
NEGATED_VERB_AUXILIARIES = ("did not", "didn't", "do not", "don't", "never", "could not", "couldn't")
# what the sentences are about: films first, and everyday things a visitor may type about
SUBJECTS = ("the movie", "this film", "the picture", "the show", "the plot", "the cast", "the script", "the ending",
            "the soundtrack", "the direction", "the dialogue", "the food", "the service", "this product",
            "the hotel", "the book", "this phone", "the staff", "the meal", "the experience")
NAMES = ("Alice", "Tom", "Priya", "Carlos", "Mei", "Jamal", "Olga", "Kenji")

# --- training templates ---------------------------------------------------------------------------
# Slots: {subject}, {Subject} (capitalised), {name}, {intensifier}, {diminisher}, {aux} (a negated
# auxiliary), and sentiment slots ending in _a or _b: {adj_a}, {verb_a} (base form), {verbed_a}
# (past tense), {noun_a}, and the same with _b. The _a words decide the label; _b words take the
# opposite polarity (the clause a contrast overrides). ``flip`` templates negate the _a word, so
# their label is the opposite of its polarity.


@dataclass(frozen=True)
class Template:
    capability: str
    text: str
    flip: bool = False


TRAINING_TEMPLATES = (
    # plain vocabulary
    Template("vocabulary", "{Subject} is {adj_a}."),
    Template("vocabulary", "Overall, {subject} felt {adj_a}."),
    Template("vocabulary", "Such a {adj_a} experience"),
    Template("vocabulary", "I {verbed_a} {subject}."),
    Template("vocabulary", "Honestly I {verb_a} it"),
    Template("vocabulary", "{Subject} is a real {noun_a}."),
    Template("vocabulary", "A {noun_a}, start to finish."),
    # negation of the _a word: the label flips
    Template("negation", "{Subject} is not {adj_a}.", flip=True),
    Template("negation", "{Subject} isn't {adj_a} at all.", flip=True),
    Template("negation", "{Subject} was not {adj_a} at all!", flip=True),
    Template("negation", "Honestly, {subject} wasn't {adj_a}.", flip=True),
    Template("negation", "{Subject} has never been {adj_a}.", flip=True),
    Template("negation", "Not {adj_a} at all.", flip=True),
    Template("negation", "not {adj_a}, not one bit", flip=True),
    Template("negation", "Nothing about {subject} was {adj_a}.", flip=True),
    Template("negation", "{Subject} had no {adj_a} parts at all.", flip=True),
    Template("negation", "It's not a {adj_a} one.", flip=True),
    Template("negation", "I {aux} {verb_a} {subject}.", flip=True),
    Template("negation", "I {aux} {verb_a} it at all.", flip=True),
    Template("negation", "Nobody would {verb_a} {subject}.", flip=True),
    Template("negation", "My friends {aux} {verb_a} {subject} either.", flip=True),
    Template("negation", "Nobody I know {verbed_a} it.", flip=True),
    Template("negation", "No one I know {verbed_a} {subject}.", flip=True),
    Template("negation", "No one could {verb_a} {subject}.", flip=True),
    Template("negation", "No one would ever {verb_a} {subject}.", flip=True),
    Template("negation", "Nobody is going to {verb_a} {subject}.", flip=True),
    Template("negation", "Not a single person will {verb_a} {subject}.", flip=True),
    Template("negation", "None of my friends would {verb_a} {subject}.", flip=True),
    Template("negation", "You won't {verb_a} {subject}.", flip=True),
    Template("negation", "I honestly {aux} {verb_a} one bit of it.", flip=True),
    Template("negation", "{Subject} is no {noun_a}.", flip=True),
    Template("negation", "{Subject} is not a {noun_a} at all.", flip=True),
    # contrast: the main clause (_a) decides
    Template("contrast", "{Subject} started out {adj_b}, but it ended up {adj_a}."),
    Template("contrast", "Some parts were {adj_b} but the whole thing is {adj_a}."),
    Template("contrast", "I thought it would be {adj_b}, but it was {adj_a}."),
    Template("contrast", "Although {subject} is {adj_b}, I {verbed_a} it."),
    Template("contrast", "Even though the start was {adj_b}, {subject} is {adj_a}."),
    Template("contrast", "{Subject} is {adj_a}, although a few scenes are {adj_b}."),
    Template("contrast", "The reviews said {adj_b}, but honestly it's {adj_a}."),
    Template("contrast", "{Subject} had {adj_b} stretches, but in the end it was {adj_a}."),
    Template("contrast", "Despite a {adj_b} start, {subject} turned out {adj_a}."),
    Template("contrast", "While the pacing is {adj_b}, I {verbed_a} it."),
    Template("contrast", "{Subject} was {adj_a}, though a couple of parts were {adj_b}."),
    Template("contrast", "It may look {adj_b}, but {subject} is {adj_a}."),
    # the overridden clause within five tokens of its conjunction, where one filter sees both
    Template("contrast", "{Subject} was {adj_a}, although it got {adj_b} later."),
    Template("contrast", "{Subject} is {adj_a}, though parts are {adj_b}."),
    Template("contrast", "Though the music is {adj_b}, {subject} is {adj_a}."),
    # intensifiers and diminishers keep the polarity
    Template("intensifier", "{Subject} feels {intensifier} {adj_a}."),
    Template("intensifier", "{intensifier} {adj_a}!"),
    Template("diminisher", "{Subject} seems {diminisher} {adj_a}."),
    Template("diminisher", "It felt {diminisher} {adj_a} to me."),
    # a name as the subject: names carry no sentiment
    Template("names", "{name} was {adj_a} in it."),
    Template("names", "{name} thinks {subject} is {adj_a}."),
)

_ARTICLE = re.compile(r"\b([Aa]) (?=[aeiou])")
_SLOT = re.compile(r"\{(\w+)\}")
SENTIMENT_SLOTS = ("adj", "verb", "verbed", "noun")


@dataclass(frozen=True)
class Lexicon:
    """Sentiment words by polarity (index 0 negative, 1 positive) and the neutral fillers."""

    adjectives: tuple[Sequence[str], Sequence[str]]
    verbs: tuple[Sequence[tuple[str, str]], Sequence[tuple[str, str]]]
    nouns: tuple[Sequence[str], Sequence[str]]
    subjects: Sequence[str]
    names: Sequence[str]
    intensifiers: Sequence[str]
    diminishers: Sequence[str]
    auxiliaries: Sequence[str] = NEGATED_VERB_AUXILIARIES

    def sentiment_words(self) -> set[str]:
        words = set(self.adjectives[0]) | set(self.adjectives[1]) | set(self.nouns[0]) | set(self.nouns[1])
        for verbs in self.verbs:
            for base, past in verbs:
                words |= {base, past}
        return words


TRAINING_LEXICON = Lexicon((NEGATIVE_ADJECTIVES, POSITIVE_ADJECTIVES), (NEGATIVE_VERBS, POSITIVE_VERBS),
                           (NEGATIVE_NOUNS, POSITIVE_NOUNS), SUBJECTS, NAMES, INTENSIFIERS, DIMINISHERS)


def fill(template: Template, polarity: int, lexicon: Lexicon, rng: random.Random) -> tuple[str, int]:
    """One sentence from ``template`` whose deciding (_a) words have ``polarity`` (0 negative, 1
    positive), with its label: the polarity, flipped when the template negates it."""
    verbs: dict[str, tuple[str, str]] = {}

    def value(slot: str) -> str:
        if slot in ("subject", "Subject"):
            text = rng.choice(lexicon.subjects)
            return text[:1].upper() + text[1:] if slot == "Subject" else text
        if slot == "name":
            return rng.choice(lexicon.names)
        if slot == "intensifier":
            return rng.choice(lexicon.intensifiers)
        if slot == "diminisher":
            return rng.choice(lexicon.diminishers)
        if slot == "aux":
            return rng.choice(lexicon.auxiliaries)
        kind, _, side = slot.rpartition("_")
        if side not in ("a", "b") or kind not in SENTIMENT_SLOTS:
            raise KeyError(f"unknown slot {{{slot}}} in {template.text!r}")
        sign = polarity if side == "a" else 1 - polarity
        if kind == "adj":
            return rng.choice(lexicon.adjectives[sign])
        if kind == "noun":
            return rng.choice(lexicon.nouns[sign])
        pair = verbs.setdefault(side, rng.choice(lexicon.verbs[sign]))  # {verb_a} and {verbed_a} agree
        return pair[0] if kind == "verb" else pair[1]

    text = _SLOT.sub(lambda m: value(m.group(1)), template.text)
    text = _ARTICLE.sub(lambda m: m.group(1) + "n ", text)  # "a awful" -> "an awful"
    text = text[:1].upper() + text[1:]
    return text, (1 - polarity) if template.flip else polarity


def synthetic_sentences(count: int, seed: int = 0, templates: Sequence[Template] = TRAINING_TEMPLATES,
                        lexicon: Lexicon = TRAINING_LEXICON) -> tuple[list[str], list[int]]:
    """``count`` (text, label) pairs from the templates, both labels equally often, deterministic in ``seed``."""
    examples = synthetic_examples(count, seed, templates, lexicon)
    return [text for text, _, _ in examples], [label for _, label, _ in examples]


def synthetic_examples(count: int, seed: int = 0, templates: Sequence[Template] = TRAINING_TEMPLATES,
                       lexicon: Lexicon = TRAINING_LEXICON) -> list[tuple[str, int, Template]]:
    """What :func:`synthetic_sentences` gives, each with the template it was filled from."""
    rng = random.Random(seed)
    examples = []
    for i in range(count):
        template = templates[rng.randrange(len(templates))]
        text, label = fill(template, 1 - i % 2 if template.flip else i % 2, lexicon, rng)
        examples.append((text, label, template))
    return examples


# templates whose label goes against a sentiment word in them: the negated word, the conceded clause
SCOPED_CAPABILITIES = frozenset({"negation", "contrast"})


# --- spans of reviews -----------------------------------------------------------------------------

SENTENCE_END = frozenset({".", "!", "?", ";", "...", "!!", "?!"})


def ends_sentence(token: str) -> bool:
    """Whether ``token`` closes a sentence: ., !, ?, ; or a run of ., ! and ? ("!!!", "?!?")."""
    return token in SENTENCE_END or (len(token) > 1 and set(token) <= set(".!?"))


def sentence_spans(tokens: Sequence[str], min_tokens: int = 3, max_tokens: int = 50) -> Iterator[list[str]]:
    """The sentences of a tokenised text (cut after ., !, ?, ;), each of ``min_tokens`` to
    ``max_tokens`` tokens (longer ones are skipped: they are reviews in miniature already)."""
    start = 0
    for i, token in enumerate(tokens):
        if ends_sentence(token):
            if min_tokens <= i + 1 - start <= max_tokens:
                yield list(tokens[start : i + 1])
            start = i + 1
    if min_tokens <= len(tokens) - start <= max_tokens:
        yield list(tokens[start:])


def sample_spans(documents: Sequence[Sequence[str]], count: int, seed: int = 0, min_tokens: int = 3,
                 max_tokens: int = 50, negated_share: float | None = None) -> list[list[str]]:
    """Up to ``count`` sentence spans drawn from ``documents`` (documents in random order), deterministic
    in ``seed``. Each document gives at most two, or as many as ``count`` needs when two per document
    are too few (three for 180,000 spans of 72,500 reviews), so the spans come from as many reviews as
    they can. With ``negated_share``, that share of them are sentences that hold a negator
    (:data:`NEGATORS`; about a quarter of review sentences do) and the rest sentences that hold none,
    as far as the documents have them."""
    rng = random.Random(seed)
    order = list(range(len(documents)))
    rng.shuffle(order)
    per_document = max(2, math.ceil(count / max(len(documents), 1)))
    if negated_share is None:
        spans: list[list[str]] = []
        for index in order:
            found = list(sentence_spans(documents[index], min_tokens, max_tokens))
            spans.extend(rng.sample(found, min(per_document, len(found))))
            if len(spans) >= count:
                break
        return spans[:count]
    wanted = round(count * negated_share)
    quota = {True: wanted, False: count - wanted}
    picked: dict[bool, list[list[str]]] = {True: [], False: []}
    for index in order:
        found = list(sentence_spans(documents[index], min_tokens, max_tokens))
        rng.shuffle(found)
        taken = 0
        for span in found:
            kind = holds_negator(span)
            if taken < per_document and len(picked[kind]) < quota[kind]:
                picked[kind].append(span)
                taken += 1
        if all(len(picked[kind]) >= quota[kind] for kind in picked):
            break
    spans = picked[True] + picked[False]
    rng.shuffle(spans)
    return spans


# --- negation scope ------------------------------------------------------------------------------

NEGATORS = frozenset({"not", "n't", "no", "never", "nothing", "nobody", "none", "neither", "nor", "nowhere",
                      "without", "cannot", "hardly"})
SCOPE_END = frozenset(string.punctuation) | {"but", "however", "although", "though", "...", "<br"}
NEGATED_PREFIX = "NOT_"  # upper case: the tokenizer lowercases everything, so no real token has it


def holds_negator(tokens: Sequence[str]) -> bool:
    """Whether any of ``tokens`` is a negator ("not", "n't", "never", "no", ...)."""
    return any(token in NEGATORS for token in tokens)


def mark_negation(tokens: Sequence[str]) -> list[str]:
    """``tokens`` with every word after a negator, up to the next punctuation mark or "but",
    prefixed by ``NOT_``: ["not", "bad", "at", "all", "."] -> ["not", "NOT_bad", "NOT_at", "NOT_all", "."]."""
    out, negated = [], False
    for token in tokens:
        if token in SCOPE_END or all(ch in string.punctuation for ch in token):
            negated = False
            out.append(token)
        elif token in NEGATORS:
            negated = True
            out.append(token)
        else:
            out.append(NEGATED_PREFIX + token if negated else token)
    return out


# --- contrast scope ---------------------------------------------------------------------------------

CONCESSIVES = frozenset({"although", "though", "despite", "whereas"})
CONCEDED_PREFIX = "CONCEDED_"


def mark_contrast(tokens: Sequence[str]) -> list[str]:
    """``tokens`` with the words a contrast overrides prefixed by ``CONCEDED_``: those before "but" in
    its sentence, and those after "although", "though", "despite" or "whereas" up to the next
    punctuation mark. ["good", "acting", "but", "dull"] -> ["CONCEDED_good", "CONCEDED_acting", "but",
    "dull"]; a teacher reading them learns from whole reviews how much a conceded word still counts."""
    out = list(tokens)
    clause_start, conceding = 0, False
    for i, token in enumerate(tokens):
        if token == "but":
            for j in range(clause_start, i):
                if not _is_punctuation(out[j]) and not out[j].startswith(CONCEDED_PREFIX):
                    out[j] = CONCEDED_PREFIX + out[j]
            clause_start, conceding = i + 1, False
        elif token in CONCESSIVES:
            conceding = True
        elif _is_punctuation(token):
            conceding = False
            if ends_sentence(token):
                clause_start = i + 1
        elif conceding:
            out[i] = CONCEDED_PREFIX + token
    return out


_PUNCTUATION = frozenset(string.punctuation)


def _is_punctuation(token: str) -> bool:
    return token[:1] in _PUNCTUATION and set(token) <= _PUNCTUATION


def teacher_view(negation: bool, contrast: bool):
    """What the n-gram teacher reads of a token list: the tokens, with negated and conceded words marked
    as asked (negation first, so a negated word in a conceded clause carries both marks)."""
    marks = [mark for mark, on in ((mark_negation, negation), (mark_contrast, contrast)) if on]

    def view(tokens: Sequence[str]) -> list[str]:
        for mark in marks:
            tokens = mark(tokens)
        return list(tokens)
    return view


# --- what train.py adds to the soft-labelled training examples -------------------------------------

def vader_compound(texts: Sequence[str]):
    """VADER's compound score (-1 to 1) of each text (Hutto & Gilbert, "VADER: A Parsimonious Rule-based
    Model for Sentiment Analysis of Social Media Text", ICWSM 2014): a sentiment lexicon with rules for
    negation, "but", intensifiers and punctuation, made for short texts."""
    import numpy as np

    try:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer
    except ImportError as error:
        raise RuntimeError("--vader-weight needs the vaderSentiment package (pip install -r requirements-train.txt)") from error
    analyzer = SentimentIntensityAnalyzer()
    return np.array([analyzer.polarity_scores(text)["compound"] for text in texts], dtype=np.float64)


# VADER's negation rule looks for "not", "never", "n't" and their kind among the three words before a
# sentiment word, never for a negating subject: "nobody would like it" and "no one will enjoy it" score
# as praise. Rewritten as "not anybody" and "not anyone", the subject is read by that rule.
_SUBJECT_NEGATOR = re.compile(r"\b(nobody|no one)\b")  # the tokenizer splits "no-one" into "no", "-", "one"


def vader_reading(tokens: Sequence[str], subject_negation: bool = False) -> str:
    """The text VADER scores for a token list: the tokens joined by spaces; with ``subject_negation``,
    "nobody" as "not anybody" and "no one" as "not anyone" (the tokens are lowercase)."""
    text = " ".join(tokens)
    if not subject_negation:
        return text
    return _SUBJECT_NEGATOR.sub(lambda m: "not anybody" if m.group(1) == "nobody" else "not anyone", text)


# which spans a reader's log-odds join (short_texts, train.py --span-model-spans): those whose negation or
# contrast scope the teacher does not mark, those it marks, or all of them
READER_SPANS = ("unmarked", "marked", "all")


def log_odds(probabilities):
    """(n,) log P(positive) - log P(negative) of (n, 2) class probabilities (clipped away from 0 and 1)."""
    import numpy as np

    p = np.clip(probabilities.astype(np.float64), 1e-7, 1 - 1e-7)
    return np.log(p[:, 1]) - np.log(p[:, 0])


def from_log_odds(values):
    """(n, 2) float32 class probabilities of (n,) positive-minus-negative log-odds."""
    import numpy as np

    positive = 1 / (1 + np.exp(-np.asarray(values, dtype=np.float64)))
    return np.stack([1 - positive, positive], axis=1).astype(np.float32)


def negated_log_odds(teacher, views: Sequence[Sequence[str]]):
    """(n,) the teacher's log-odds (without its intercept) of the words each view marks as negated
    (:func:`mark_negation`), read as plain words; 0 for a view that marks none.

    A teacher fitted on reviews learns a weight for "NOT_boring" only from the reviews that say "not
    boring"; for most negated words they are few, and the bare "not" around them, common in negative
    reviews, decides, so "not irritating" reads as blame (``benchmarks/behavior.py --teachers``).
    Subtracting this reads a negated word against its plain sense, as the templates teach
    (``teacher`` has ``predict_proba(documents, prior)``)."""
    inside = [[token[len(NEGATED_PREFIX):] for token in view if token.startswith(NEGATED_PREFIX)] for view in views]
    return log_odds(teacher.predict_proba(inside, prior=False))


def vader_shift(compound, weight: float, centre: float = 0.0):
    """(n,) what VADER adds to each text's log-odds: ``weight`` times its compound score (``compound``,
    from :func:`vader_compound`) less ``centre`` times their mean over the texts (1: all of the mean, 0:
    none).

    Centring keeps VADER's rules and drops its lean: on IMDb's review sentences about 47% score above 0
    and 31% below, while the teacher's labels are balanced, and a lean in the labels teaches the CNN to
    read a sentence with little evidence as positive."""
    return weight * (compound - centre * compound.mean())


def with_vader(probabilities, compound, weight: float, centre: float = 0.0):
    """(n, 2) class probabilities whose log-odds gain :func:`vader_shift`."""
    return from_log_odds(log_odds(probabilities) + vader_shift(compound, weight, centre))


def short_texts(documents: Sequence[Sequence[str]], spans: int, synthetic: int, teacher, vocab, max_tokens: int,
                seed: int = 0, teacher_view=list, vader_weight: float = 0.0, vader_centre: float = 0.0,
                vader_subject_negation: bool = False, negated_share: float | None = None, negation_flip: float = 0.0,
                reader=None, reader_weight: float = 0.0, reader_spans: str = "unmarked"):
    """An EncodedSplit of ``spans`` sentence spans of ``documents`` (``negated_share``: see
    :func:`sample_spans`), each towards the teacher's class probabilities for the span alone,
    without the teacher's intercept (a sentence has no prior) (``teacher_view`` maps a token list to
    what the teacher reads; with ``vader_weight``, that many times VADER's compound score of
    :func:`vader_reading`, less ``vader_centre`` times its mean over the spans, joins the teacher's
    log-odds; with ``negation_flip``, that many times :func:`negated_log_odds` leaves them; with
    ``reader`` (token lists to log-odds, as train.py's ``model_reader`` gives), ``reader_weight`` times its
    log-odds join those of the spans whose negation or contrast scope ``teacher_view`` does not mark
    (``reader_spans`` "unmarked"), of those whose scope it marks ("marked") or of all ("all")),
    followed by ``synthetic`` templated sentences with their labels as one-hot targets."""
    import numpy as np

    from textcnn.data import EncodedSplit, concatenate, encode

    if reader_spans not in READER_SPANS:
        raise ValueError(f"reader_spans is one of {', '.join(READER_SPANS)}, got {reader_spans!r}")
    out = EncodedSplit([], np.zeros(0, dtype=np.int64), np.zeros((0, 2), dtype=np.float32))
    if spans:
        cut = sample_spans(documents, spans, seed=seed, negated_share=negated_share)
        views = [teacher_view(s) for s in cut]
        # the labels' terms add up in log-odds, made probabilities once at the end
        scores = log_odds(teacher.predict_proba(views, prior=False))  # (S,)
        if negation_flip:
            scores -= negation_flip * negated_log_odds(teacher, views)
        if vader_weight:
            compound = vader_compound([vader_reading(s, vader_subject_negation) for s in cut])
            scores += vader_shift(compound, vader_weight, vader_centre)
        if reader is not None and reader_weight:
            read = [i for i, (span, view) in enumerate(zip(cut, views))
                    if reader_spans == "all" or (view != span) == (reader_spans == "marked")]  # a scope marked or not
            if read:
                scores[read] += reader_weight * reader([cut[i] for i in read])
        out = concatenate(out, encode(cut, None, vocab, max_tokens, targets=from_log_odds(scores)))
    if synthetic:
        from textcnn.tokenizer import Tokenizer

        texts, labels = synthetic_sentences(synthetic, seed=seed)
        out = concatenate(out, encode(Tokenizer().batch(texts), None, vocab, max_tokens,
                                      targets=np.eye(2, dtype=np.float32)[labels]))
    return out
