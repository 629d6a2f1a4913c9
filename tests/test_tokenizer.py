import pytest
import spacy

from textcnn.tokenizer import Tokenizer, clean, spacy_reference_tokens


def test_imdb_text_reference_case():
    text = "This movie was GREAT!<br /><br />I didn't expect that. 10/10, would watch again.<BR/>Really."
    assert Tokenizer()(text) == [
        "this", "movie", "was", "great", "!", "i", "did", "n't", "expect", "that", ".",
        "10/10", ",", "would", "watch", "again", ".", "really", ".",
    ]


@pytest.mark.parametrize("variant", ["<br />", "<br/>", "<br>", "<BR />", "< br / >"])
def test_html_breaks_never_become_tokens(variant):
    assert Tokenizer()(f"good{variant}bad") == ["good", "bad"]


def test_lowercases_for_uncased_glove():
    assert clean("Hello WORLD") == "hello world"


@pytest.mark.parametrize(
    "text",
    [
        "A simple sentence.",
        "Don't you think it's over-rated? I can't say (honestly) it wasn't fun...",
        "Mr. Smith paid $5.50 for a 2-hour film -- \"meh\" 3/10 ;-)",
        "Café naïve résumé — ünïcödé",
        "line one\nline two\ttabbed   spaced",
        "e-mail me at someone@example.com or visit http://example.com/page?x=1",
    ],
)
def test_chunked_tokenizer_matches_plain_spacy(text):
    assert Tokenizer()(text) == spacy_reference_tokens(text, spacy.blank("en"))


# chunks the regex fast path takes or must refuse: special cases hide behind affixes ("(a.", "cannot",
# "8)" as an emoticon), and "..." or "'s" are not simple punctuation
SIMPLE_LOOKING_CHUNKS = [
    "great", "1990", "(great", '"great', "film!", "film,", "film.", "(film)", '"film"', "(a.", '"a.',
    "a.", "mr.", "etc.", "(8)", "8)", "cannot", "(cannot", "gonna!", "film...", "film's", "films'",
    "(1990).", "u.s.", "10km", "ok.", "re-make", "don't", ":)", "(:", "x!", "(no", "b.",
]


@pytest.mark.parametrize("chunk", SIMPLE_LOOKING_CHUNKS)
def test_fast_path_agrees_with_spacy(chunk):
    assert Tokenizer()(chunk) == spacy_reference_tokens(chunk, spacy.blank("en"))


def test_fast_path_skips_spacy_for_plain_words():
    tokenizer = Tokenizer()
    assert tokenizer._simple("(great") == ("(", "great")
    assert tokenizer._simple("film!") == ("film", "!")
    assert tokenizer._simple("cannot") is None  # a special case: spaCy says "can", "not"
    assert tokenizer._simple("(a.") is None  # "a." is a special case once "(" is stripped


def test_cache_is_bounded_and_results_stay_the_same():
    tokenizer = Tokenizer(max_cache=3)
    text = "one two three four five six one two"
    assert tokenizer(text) == text.split()
    assert len(tokenizer._cache) <= 3
    assert tokenizer(text) == text.split()


@pytest.mark.parametrize("text", ["", "   ", "<br /><br />", "\n\t"])
def test_whitespace_only_gives_no_tokens(text):
    assert Tokenizer()(text) == []


def test_huge_chunks_are_tokenised_in_bounded_time():
    import time

    started = time.perf_counter()
    tokens = Tokenizer()("(" * 100_000)
    assert time.perf_counter() - started < 2 and "".join(tokens) == "(" * 100_000


def test_max_tokens_stops_early_but_signals_truncation():
    tokens = Tokenizer()("word " * 10_000, max_tokens=50)
    assert 50 < len(tokens) < 100
