import random

import pytest
import spacy

from textcnn.tokenizer import MAX_CHUNK_CHARS, Tokenizer, clean, replace_surrogates, spacy_reference_tokens, spelled


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    """One tokenizer for the tests that do not look at its caches (building one takes about a second)."""
    return Tokenizer()


def test_imdb_text_reference_case():
    text = "This movie was GREAT!<br /><br />I didn't expect that. 10/10, would watch again.<BR/>Really."
    assert Tokenizer()(text) == [
        "this", "movie", "was", "great", "!", "i", "did", "n't", "expect", "that", ".",
        "10/10", ",", "would", "watch", "again", ".", "really", ".",
    ]


@pytest.mark.parametrize("variant", ["<br />", "<br/>", "<br>", "<BR />", "< br / >"])
def test_html_breaks_never_become_tokens(tokenizer, variant):
    assert tokenizer(f"good{variant}bad.") == ["good", "bad", "."]


@pytest.mark.parametrize(("typed", "as_reviews_spell_it"), [
    ("I don’t like it", "I don't like it"),  # typographic apostrophe (phones, word processors)
    ("It wasnʼt bad", "It wasn't bad"),  # modifier letter apostrophe
    ("I dont like it", "I don't like it"),  # no apostrophe
    ("Cant say enough, wont go back, didnt care", "Can't say enough, won't go back, didn't care"),
    ("ISNT IT?", "isn't it?"),
    ("It’s ‘great’", "It's 'great'"),
])
def test_contractions_read_as_reviews_spell_them(tokenizer, typed, as_reviews_spell_it):
    assert tokenizer(typed) == tokenizer(as_reviews_spell_it)


def test_contractions_typed_without_an_apostrophe_hand_checked(tokenizer):
    assert tokenizer("I didnt hate it.") == ["i", "did", "n't", "hate", "it", "."]
    assert tokenizer("We wont be back!") == ["we", "wo", "n't", "be", "back", "!"]
    assert tokenizer("Internet, intent, nth.") == ["internet", ",", "intent", ",", "nth", "."]  # "nt" in words stays


@pytest.mark.parametrize(("typed", "spaced"), [
    ("Great product.Works well", "Great product. Works well"),
    ("It broke!!I want a refund?Never again", "It broke!! I want a refund? Never again"),
    ("Loved it.I'd watch it again", "Loved it. I'd watch it again"),
])
def test_a_sentence_mark_glued_to_the_next_word_is_read_as_if_spaced(tokenizer, typed, spaced):
    assert tokenizer(typed) == tokenizer(spaced)


@pytest.mark.parametrize("text", ["e.g.", "u.s.a.", "sh!t", "3.5/10", "a.m.", "movie...and"])
def test_abbreviations_numbers_and_censored_words_stay_as_spacy_cuts_them(tokenizer, text):
    closed = f"{text} !"  # a sentence mark at the end: nothing is added there
    assert tokenizer(closed) == [token.text for token in spacy.blank("en").tokenizer(closed)]


def test_lowercases_for_uncased_glove():
    assert clean("Hello WORLD!") == "hello world!"


@pytest.mark.parametrize(("text", "closed"), [
    ("not bad at all", "not bad at all ."),
    ("great phone  \n", "great phone ."),
    ("(10/10)", "(10/10) ."),
    ("Great.", "great."), ("wow!!!", "wow!!!"), ("really?", "really?"), ("ok...", "ok..."),
    ('he said "great."', 'he said "great."'), ("(it was great!)", "(it was great!)"),  # closing quotes, brackets
    ("", ""), ("   ", "   "), ("<br />", " "),
])
def test_a_text_without_a_sentence_mark_at_its_end_gets_a_full_stop(text, closed):
    assert clean(text) == closed


@pytest.mark.parametrize(
    "text",
    [
        "A simple sentence.",
        "Don't you think it's over-rated? I can't say (honestly) it wasn't fun...",
        "Mr. Smith paid $5.50 for a 2-hour film -- \"meh\" 3/10 ;-)",
        "Café naïve résumé — ünïcödé",
        "line one\nline two\ttabbed   spaced",
        "e-mail me at someone@example.com or visit http://example.com/page?x=1",
        "I dont know, it wasn’t bad ;-) but didnt/couldnt care",
    ],
)
def test_chunked_tokenizer_matches_plain_spacy(tokenizer, text):
    assert tokenizer(text) == spacy_reference_tokens(text, spacy.blank("en"))


# chunks the regex fast path takes or must refuse: special cases hide behind affixes ("(a.", "cannot",
# "8)" as an emoticon), and "..." or "'s" are not simple punctuation
SIMPLE_LOOKING_CHUNKS = [
    "great", "1990", "(great", '"great', "film!", "film,", "film.", "(film)", '"film"', "(a.", '"a.',
    "a.", "mr.", "etc.", "(8)", "8)", "cannot", "(cannot", "gonna!", "film...", "film's", "films'",
    "(1990).", "u.s.", "10km", "ok.", "re-make", "don't", ":)", "(:", "x!", "(no", "b.",
]


@pytest.mark.parametrize("chunk", SIMPLE_LOOKING_CHUNKS)
def test_fast_path_agrees_with_spacy(tokenizer, chunk):
    assert tokenizer(chunk) == spacy_reference_tokens(chunk, spacy.blank("en"))


def test_fast_path_skips_spacy_for_plain_words():
    tokenizer = Tokenizer()
    assert tokenizer._simple("(great") == ("(", "great")
    assert tokenizer._simple("film!") == ("film", "!")
    assert tokenizer._simple("cannot") is None  # a special case: spaCy says "can", "not"
    assert tokenizer._simple("(a.") is None  # "a." is a special case once "(" is stripped


def test_cache_is_bounded_and_results_stay_the_same():
    tokenizer = Tokenizer(max_cache=3)
    text = "one two three four five six one two ."
    assert tokenizer(text) == text.split()
    assert len(tokenizer._cache) <= 3
    assert tokenizer(text) == text.split()


@pytest.mark.parametrize("text", ["", "   ", "<br /><br />", "\n\t"])
def test_whitespace_only_gives_no_tokens(tokenizer, text):
    assert tokenizer(text) == []


def test_huge_chunks_are_tokenised_in_bounded_pieces(monkeypatch):
    """spaCy's affix rules take time superlinear in a chunk's length: a huge chunk is split in pieces of
    at most MAX_CHUNK_CHARS characters, and identical pieces are tokenised once."""
    tokenizer = Tokenizer()
    seen: list[str] = []
    split = tokenizer._affixes
    monkeypatch.setattr(tokenizer, "_affixes", lambda piece, **kwargs: seen.append(piece) or split(piece, **kwargs))
    tokens = tokenizer("(" * 100_000)
    assert "".join(tokens) == "(" * 100_000 + "."  # and the full stop it was typed without
    assert seen == ["(" * MAX_CHUNK_CHARS, "."]


def test_max_tokens_stops_early_but_signals_truncation():
    tokens = Tokenizer()("word " * 10_000, max_tokens=50)
    assert 50 < len(tokens) < 100


# --- surrogates: any str a client can send is tokenised --------------------------------------------
@pytest.mark.parametrize("text, replaced", [
    ("bad \ud800 film.", "bad \ufffd film."),
    ("A\udfffB!", "a\ufffdb!"),
    ("\ud83d\ude00 fine?", "\ufffd\ufffd fine?"),  # a pair left as two code points is no character either
])
def test_lone_surrogates_become_replacement_characters(tokenizer, text, replaced):
    assert clean(text) == replaced
    assert tokenizer(text) == spacy_reference_tokens(replaced)


def test_text_without_surrogates_is_left_alone():
    for text in ("plain ascii", "café 😀 \ufffd"):
        assert replace_surrogates(text) is text or replace_surrogates(text) == text


# --- parity: the chunk cache and the fast paths give exactly spaCy's tokens ---------------------------
def spacy_chunk_tokens(tokenizer: Tokenizer, text: str) -> list[str]:
    """spaCy itself on each whitespace-separated chunk of the cleaned text (what the fast paths replace),
    spelled as the tokenizer spells contractions."""
    return list(spelled(token.text for chunk in clean(text).split() for token in tokenizer._spacy(chunk)))


# fragments that exercise spaCy's prefixes, suffixes, infixes, special cases, URLs and emoticons
FRAGMENTS = [
    "a", "i", "film", "don", "t", "n't", "'s", "'", "’", '"', "(", ")", "[", "]", "{", "}", ".", "..", "...", "…",
    ",", ";", ":", "!", "?", "-", "--", "—", "–", "/", "\\", "*", "&", "%", "$", "#", "@", "+", "=", "<", ">",
    "10", "1/2", "3.5", "2nd", "80's", "e.g.", "u.s.", "mr.", "a.m.", "can", "not", "gon", "na", "'em", "ca",
    ":)", ":-)", ";)", ":(", ":p", "<3", "xd", "=)", "^_^", "o.o", "http://example.com/x?y=1", "www.imdb.com",
    "a@b.co", "😀", "🍿", "é", "ß", "\u0301", "\x00", "\u200b", "\ufffd", "km", "lbs", "'90s", "o'clock",
]


def adversarial_chunks(count: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choices(FRAGMENTS, k=rng.randint(1, 6))) for _ in range(count)]


def test_fast_paths_match_spacy_on_adversarial_chunks():
    tokenizer = Tokenizer()
    reference = spacy.blank("en").tokenizer
    mismatches = []
    for chunk in adversarial_chunks(5_000):
        expected = list(spelled(token.text for token in reference(clean(chunk)) if not token.is_space))
        if tokenizer(chunk) != expected:
            mismatches.append((chunk, tokenizer(chunk), expected))
    assert mismatches == []


def test_affix_port_matches_spacy_on_every_adversarial_chunk():
    """The port itself, without the regex fast path in front of it and without the spaCy fallback."""
    tokenizer = Tokenizer()
    reference = spacy.blank("en").tokenizer
    ported = 0
    for chunk in adversarial_chunks(5_000, seed=1):
        if not chunk.split() == [chunk]:
            continue
        tokens = tokenizer._affixes(chunk)
        if tokenizer._may_merge(tokens):
            continue  # spaCy merges a run back into a special case: the tokenizer asks spaCy itself
        ported += 1
        assert tokens == [token.text for token in reference(chunk)], chunk
    assert ported > 4_000  # the fallback stays the exception


def real_reviews(count: int) -> list[str]:
    from benchmarks.common import LOCAL_IMDB

    path = LOCAL_IMDB / "plain_text" / "train-00000-of-00001.parquet"
    if not path.is_file():
        pytest.skip(f"no local IMDb copy at {path}: the parity test on real reviews needs one")
    import pyarrow.parquet as pq

    texts = pq.read_table(path, columns=["text"]).column("text").to_pylist()
    return random.Random(0).sample(texts, count)


def test_tokens_match_spacy_on_real_reviews():
    """1,000 IMDb train reviews: exactly spaCy's tokens chunk by chunk, and over the whole text except
    where whole-text spaCy itself declines an emoticon special case inside a chunk (rare, documented)."""
    reviews = real_reviews(1_000)
    tokenizer = Tokenizer()
    whole_text = spacy.blank("en")
    differ_from_whole_text = []
    for review in reviews:
        tokens = tokenizer(review)
        assert tokens == spacy_chunk_tokens(tokenizer, review), review
        if tokens != spacy_reference_tokens(review, whole_text):
            differ_from_whole_text.append(review)
    assert len(differ_from_whole_text) <= 2, differ_from_whole_text  # about 1 in 5,000 on IMDb
