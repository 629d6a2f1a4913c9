"""The settings of a training run, as one typed object.

``train.py`` parses its command line into :class:`RunSettings`; ``metrics.json`` stores them (as
``"args"``), and the model card reads them back from there. Each field belongs to one group, and
the groups are the only definition of two rules:

- ``data``: decides what is prepared before the CNN trains (the encoded splits, the vocabulary,
  the teacher's soft labels, the initial vectors); a prepared folder is reused only when these match.
- ``runtime``: where files go, how the run is shown, on what it runs; they may differ between a
  run and its ``--resume`` and are left off the model card, since the model does not depend on them.

Every other field shapes the model or its training.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from textcnn.augment import READER_SPANS
from textcnn.data import IMDB_HUB_ID
from textcnn.snippets import CORPORA

DATA, RUNTIME = "data", "runtime"
TEMPLATES_SKIPPING = ("all", "scoped")  # the templated sentences --templates-skip-embeddings applies to
UNK_DROPOUT_TEXTS = ("reviews", "templates")  # the training texts --unk-dropout-in can limit word dropout to


def _data(default: Any) -> Any:
    return field(default=default, metadata={"group": DATA})


def _runtime(default: Any) -> Any:
    return field(default=default, metadata={"group": RUNTIME})


class SettingsError(ValueError):
    """Settings that cannot work together (one sentence, for the user)."""


@dataclass
class RunSettings:
    # data
    dataset: str = _data(IMDB_HUB_ID)
    val_fraction: float = _data(0.1)
    max_tokens: int = _data(1000)
    num_proc: int = _runtime(2)
    prepared: str | None = _runtime(None)
    # vocabulary and embeddings
    vocab_size: int = _data(30_000)
    min_freq: int = _data(2)
    glove: str = _data("6B.50d")
    adapt_embeddings: bool | None = _data(None)  # None: on with pretrained vectors (see resolved())
    adapt_fixed_below: int | None = _data(None)  # words the reviews use fewer times keep GloVe's vectors; None: off
    retrofit: str | None = _data(None)  # WordNet (textcnn/retrofit.py) whose synonyms the initial vectors are retrofitted to
    embedding_dim: int | None = _data(None)
    expand_vocab: int | None = _data(None)  # GloVe's first N words, placed after training; None and 0: off
    # distillation
    distill: bool = _data(True)
    distill_reviews: int | None = _data(None)
    teacher_c: float = _data(1.0)
    spans: int | None = _data(None)  # None and 0 both mean none; None keeps older prepared folders matching
    synthetic: int | None = _data(None)
    negation_scope: bool | None = _data(None)
    contrast_scope: bool | None = _data(None)  # None keeps older prepared folders matching
    vader_weight: float | None = _data(None)  # None and 0 both mean off; None keeps older prepared folders matching
    vader_centre: float | None = _data(None)  # share of VADER's mean taken off; None and 0 both mean off
    vader_subject_negation: bool | None = _data(None)  # None keeps older prepared folders matching
    negated_spans: float | None = _data(None)  # share of spans that hold a negator; None: as they come
    negation_flip: float | None = _data(None)  # weight of the negated words' flipped log-odds in the spans' labels; None: off
    span_model: str | None = _data(None)  # a trained model (folder or Hub repo id) whose log-odds join the spans' labels
    span_model_weight: float | None = _data(None)  # its weight there; None: 1 with span_model
    span_model_spans: str | None = _data(None)  # which spans it labels: "unmarked" (None), "marked" (a scope marked), "all"
    snippets: str | None = _data(None)  # VADER's people-rated short texts (textcnn/snippets.py): their archive or folder
    snippet_corpora: list[str] | None = _data(None)  # which of them; None: all
    snippet_scale: float | None = _data(None)  # their targets are sigmoid(scale * mean score); None: SNIPPET_SCALE
    snippet_repeats: int | None = _data(None)  # copies of each snippet in the training split; None: one
    snippet_centre: bool | None = _data(None)  # take each corpus's mean score off its scores; None: off
    self_distill: float | None = None  # weight of the CNN's own log-odds in the spans' labels after each epoch; None: off
    self_distill_marked: bool | None = None  # also the spans with a negation or contrast scope marked
    short_repeats: int | None = None  # passes over the short texts (spans, templated sentences) per epoch; None: one
    short_repeats_marked: bool | None = None  # also repeat the spans with a negation or contrast scope marked
    freeze_embeddings: bool = False
    freeze_template_words: bool | None = None  # the templated sentences' sentiment words keep their initial vectors
    templates_skip_embeddings: str | None = None  # "all" or "scoped" templated sentences pass no gradient to the vectors
    embedding_anchor: float | None = None  # each step pulls the word vectors toward their initial ones by lr x this; None: off
    multichannel: bool = False  # Kim's CNN-multichannel: a frozen copy of the initial vectors beside the trained ones
    # model
    filter_widths: list[int] = field(default_factory=lambda: [3, 4, 5])
    num_filters: int = 300
    dropout: float = 0.2
    embedding_dropout: float = 0.05
    unk_dropout: float | None = None  # chance that a training token is read as <unk> (word dropout); None: off
    unk_dropout_in: str | None = None  # word dropout reads only the whole "reviews" or the "templates"; None: every text
    # optimisation
    epochs: int = 3
    batch_size: int = 50
    lr: float = 1e-3
    weight_decay: float = 0.0
    schedule: str = "linear"
    max_norm: float | None = None
    no_bucket: bool = False
    seed: int = _data(0)
    # runtime and output
    device: str = _runtime("auto")
    no_mixed_precision: bool = False
    threads: int | None = _runtime(None)
    output_dir: str = _runtime("runs/textcnn-imdb")
    no_progress: bool = _runtime(False)
    verbose: bool = _runtime(False)
    resume: bool = _runtime(False)
    checkpoint_dir: str | None = _runtime(None)
    no_test: bool = False
    dry_run: bool = _data(False)
    # publishing
    push_to_hub: str | None = _runtime(None)
    private: bool = _runtime(False)
    revision: str | None = _runtime(None)

    @classmethod
    def from_dict(cls, values: dict) -> RunSettings:
        """Settings from a stored dict (``metrics.json``'s ``"args"``): unknown keys (options of
        other versions) are ignored, missing ones take their defaults."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    def as_dict(self) -> dict:
        return dataclasses.asdict(self)

    def group(self, name: str) -> dict:
        """The settings of one group (``DATA`` or ``RUNTIME``), by name."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.metadata.get("group") == name}

    def result_settings(self) -> dict:
        """Every setting the trained model depends on (all but the runtime ones)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.metadata.get("group") != RUNTIME}

    @property
    def pretrained_vectors(self) -> bool:
        """Whether the embeddings start from GloVe (not word2vec trained here, not random)."""
        return self.glove not in ("word2vec", "none")

    @property
    def needs_unlabelled(self) -> bool:
        """Whether the unsupervised split is read (for in-domain vectors or distillation)."""
        return self.glove == "word2vec" or bool(self.adapt_embeddings) or self.distill

    def resolved(self) -> RunSettings:
        """These settings checked, with the implied values filled in; raises SettingsError."""
        if (self.private or self.revision) and not self.push_to_hub:
            raise SettingsError("--private and --revision only apply with --push-to-hub")
        if self.adapt_embeddings and not self.pretrained_vectors:
            raise SettingsError("--adapt-embeddings continues pretrained vectors: use it with GloVe")
        if not 0 < self.val_fraction < 1:
            raise SettingsError(f"--val-fraction must be between 0 and 1, got {self.val_fraction}")
        if self.expand_vocab is not None and self.expand_vocab < 0:
            raise SettingsError(f"--expand-vocab counts GloVe words: 0 or more, got {self.expand_vocab}")
        if self.expand_vocab and not self.pretrained_vectors:
            raise SettingsError("--expand-vocab takes its new words from GloVe: use it with GloVe")
        if self.vader_weight and not (self.spans and self.distill):
            raise SettingsError("--vader-weight labels the sentences of --spans: use it with --spans (and --distill)")
        if self.vader_centre is not None and not 0 <= self.vader_centre <= 1:
            raise SettingsError(f"--vader-centre takes a share of VADER's mean from 0 to 1, got {self.vader_centre}")
        if self.vader_centre and not self.vader_weight:
            raise SettingsError("--vader-centre centres VADER's scores: use it with --vader-weight")
        if self.vader_subject_negation and not self.vader_weight:
            raise SettingsError("--vader-subject-negation changes what VADER reads: use it with --vader-weight")
        if self.negated_spans is not None and not 0 <= self.negated_spans <= 1:
            raise SettingsError(f"--negated-spans takes a share of the spans from 0 to 1, got {self.negated_spans}")
        if self.negated_spans is not None and not (self.spans and self.distill):
            raise SettingsError("--negated-spans chooses the sentences of --spans: use it with --spans (and --distill)")
        if self.negation_flip is not None and self.negation_flip < 0:
            raise SettingsError(f"--negation-flip weighs the negated words' flipped log-odds: 0 or more, got {self.negation_flip}")
        if self.negation_flip and not (self.spans and self.distill and self.negation_scope):
            raise SettingsError("--negation-flip relabels the sentences of --spans by the teacher's negation scope: use it "
                                "with --spans and --negation-scope (and --distill)")
        if self.span_model_weight is not None and self.span_model_weight < 0:
            raise SettingsError(f"--span-model-weight weighs a model's log-odds: 0 or more, got {self.span_model_weight}")
        if self.span_model_weight is not None and not self.span_model:
            raise SettingsError("--span-model-weight weighs the model of --span-model: use it with --span-model")
        if self.span_model_spans is not None and self.span_model_spans not in READER_SPANS:
            raise SettingsError(f"--span-model-spans is one of {', '.join(READER_SPANS)}, got {self.span_model_spans!r}")
        if self.span_model_spans and not self.span_model:
            raise SettingsError("--span-model-spans chooses the spans --span-model labels: use it with --span-model")
        if self.span_model and not (self.spans and self.distill):
            raise SettingsError("--span-model labels the sentences of --spans: use it with --spans (and --distill)")
        if (self.snippet_corpora or self.snippet_scale is not None or self.snippet_repeats is not None
                or self.snippet_centre) and not self.snippets:
            raise SettingsError("--snippet-corpora, --snippet-scale, --snippet-centre and --snippet-repeats choose, "
                                "label and repeat the texts of --snippets: use them with --snippets")
        if self.snippet_repeats is not None and self.snippet_repeats < 1:
            raise SettingsError(f"--snippet-repeats counts copies: 1 or more, got {self.snippet_repeats}")
        if self.snippets and not self.distill:
            raise SettingsError("--snippets trains towards soft targets, as the distilled texts do: use it with --distill")
        if self.snippet_corpora and (unknown := set(self.snippet_corpora) - set(CORPORA)):
            raise SettingsError(f"--snippet-corpora: unknown corpus {sorted(unknown)[0]!r}; choose from {', '.join(CORPORA)}")
        if self.snippet_scale is not None and self.snippet_scale <= 0:
            raise SettingsError(f"--snippet-scale turns mean scores into probabilities: above 0, got {self.snippet_scale}")
        if self.self_distill is not None and self.self_distill < 0:
            raise SettingsError(f"--self-distill weighs the CNN's own log-odds: 0 or more, got {self.self_distill}")
        if self.self_distill and not (self.spans and self.distill):
            raise SettingsError("--self-distill relabels the sentences of --spans: use it with --spans (and --distill)")
        if self.self_distill_marked and not self.self_distill:
            raise SettingsError("--self-distill-marked chooses the spans --self-distill relabels: use it with --self-distill")
        if self.freeze_template_words and not (self.synthetic and self.distill and self.pretrained_vectors):
            raise SettingsError("--freeze-template-words keeps the GloVe vectors of the words of --synthetic: use it "
                                "with --synthetic (and --distill) and GloVe")
        if self.templates_skip_embeddings not in (None, *TEMPLATES_SKIPPING):
            raise SettingsError(f"--templates-skip-embeddings takes one of {', '.join(TEMPLATES_SKIPPING)}, got "
                                f"{self.templates_skip_embeddings!r}")
        if self.templates_skip_embeddings and not (self.synthetic and self.distill):
            raise SettingsError("--templates-skip-embeddings changes what the sentences of --synthetic train: use it "
                                "with --synthetic (and --distill)")
        if self.embedding_anchor is not None and self.embedding_anchor <= 0:
            raise SettingsError(f"--embedding-anchor is a pull's strength: above 0, got {self.embedding_anchor}")
        if self.embedding_anchor and self.freeze_embeddings:
            raise SettingsError("--embedding-anchor pulls trained word vectors back: it has nothing to do with "
                                "--freeze-embeddings")
        if self.multichannel and (self.glove == "none" or self.freeze_embeddings):
            raise SettingsError("--multichannel keeps a frozen copy of the initial word vectors beside trained ones: it "
                                "needs initial vectors (not --glove none) and trained ones (not --freeze-embeddings)")
        if self.unk_dropout is not None and not 0 <= self.unk_dropout < 1:
            raise SettingsError(f"--unk-dropout is a probability: from 0 to below 1, got {self.unk_dropout}")
        if self.unk_dropout_in is not None:
            if self.unk_dropout_in not in UNK_DROPOUT_TEXTS:
                raise SettingsError(f"--unk-dropout-in takes one of {', '.join(UNK_DROPOUT_TEXTS)}, got "
                                    f"{self.unk_dropout_in!r}")
            if not self.unk_dropout:
                raise SettingsError("--unk-dropout-in says which texts word dropout reads: use it with --unk-dropout")
            if self.unk_dropout_in == "templates" and not (self.synthetic and self.distill):
                raise SettingsError("--unk-dropout-in templates reads the sentences of --synthetic: use it with "
                                    "--synthetic (and --distill)")
            if self.unk_dropout_in == "templates" and self.short_repeats and self.short_repeats > 1:
                raise SettingsError("--unk-dropout-in templates reads each templated sentence once: not with "
                                    "--short-repeats")
        if self.short_repeats is not None and self.short_repeats < 1:
            raise SettingsError(f"--short-repeats counts passes per epoch: 1 or more, got {self.short_repeats}")
        if self.short_repeats and not ((self.spans or self.synthetic) and self.distill):
            raise SettingsError("--short-repeats repeats the sentences of --spans and --synthetic: use it with them "
                                "(and --distill)")
        repeating = (self.short_repeats or 1) > 1
        if repeating and self.self_distill:
            raise SettingsError("--short-repeats and --self-distill do not combine: the repeated spans would keep "
                                "their first labels")
        if self.short_repeats_marked and not (repeating and self.spans):
            raise SettingsError("--short-repeats-marked chooses the spans --short-repeats repeats: use it with "
                                "--short-repeats 2 or more and --spans")
        adapt = self.pretrained_vectors if self.adapt_embeddings is None else self.adapt_embeddings
        if self.adapt_fixed_below is not None and not adapt:
            raise SettingsError("--adapt-fixed-below keeps words out of the adaptation: use it with --adapt-embeddings")
        if self.adapt_fixed_below is not None and self.adapt_fixed_below < 2:
            raise SettingsError(f"--adapt-fixed-below counts uses of a word: 2 or more, got {self.adapt_fixed_below}")
        if self.retrofit and self.glove == "none":
            raise SettingsError("--retrofit moves the initial word vectors toward their synonyms: it needs initial "
                                "vectors (not --glove none)")
        span_model_weight = 1.0 if self.span_model and self.span_model_weight is None else self.span_model_weight
        return dataclasses.replace(self, adapt_embeddings=adapt, epochs=1 if self.dry_run else self.epochs,
                                   span_model_weight=span_model_weight)
