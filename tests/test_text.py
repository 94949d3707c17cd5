"""tmem.text: the one tokenizer and its named stop-word sets."""

from __future__ import annotations

import pytest

from tmem.text import (
    ASCII_WORD,
    BASELINE_STOP_WORDS,
    CHAT_FILLERS,
    HASHING_STOP_WORDS,
    STOP_WORDS,
    TRIGGER_STOP_WORDS,
    WORD,
    WORD_WITH_UNDERSCORE,
    content_words,
    words,
)


def test_words_are_lowercased_letter_and_digit_runs_of_any_script() -> None:
    assert words("Café au LAIT, naïve? Жизнь 日本語 ٣٤") == [
        "café", "au", "lait", "naïve", "жизнь", "日本語", "٣٤",
    ]  # fmt: skip


def test_underscores_and_punctuation_split_words() -> None:
    assert words("snake_case it's 2024_edition e-mail") == [
        "snake", "case", "it", "s", "2024", "edition", "e", "mail",
    ]  # fmt: skip


def test_digits_stay_in_their_word() -> None:
    assert words("7pm on 12.05, room 101b") == ["7pm", "on", "12", "05", "room", "101b"]


def test_the_ascii_variant_keeps_only_ascii_runs_of_the_lowercased_text() -> None:
    assert words("Café NAÏVE x_y 7pm", ASCII_WORD) == ["caf", "na", "ve", "x", "y", "7pm"]
    # The Kelvin sign lowercases to an ASCII "k"; the ASCII variant sees it after lowercasing.
    assert words("\u212a2", ASCII_WORD) == ["k2"]


def test_the_underscore_variant_keeps_underscores() -> None:
    assert WORD_WITH_UNDERSCORE.findall("snake_case x") == ["snake_case", "x"]
    assert WORD.findall("snake_case x") == ["snake", "case", "x"]


def test_no_word_in_empty_or_punctuation_only_text() -> None:
    assert words("") == []
    assert words(" ... !?! __ ") == []
    assert content_words("the and of") == []


def test_content_words_drop_the_given_stop_set_in_order() -> None:
    assert content_words("The cat and THE dog") == ["cat", "dog"]
    assert content_words("yeah the cat", BASELINE_STOP_WORDS) == ["cat"]
    assert content_words("yeah the cat") == ["yeah", "cat"]
    assert content_words("Café ok", BASELINE_STOP_WORDS, ASCII_WORD) == ["caf"]


@pytest.mark.parametrize(
    "stop_set",
    [STOP_WORDS, HASHING_STOP_WORDS, CHAT_FILLERS, BASELINE_STOP_WORDS, TRIGGER_STOP_WORDS],
)
def test_every_stop_set_is_a_frozenset_of_lowercase_single_words(stop_set: frozenset[str]) -> None:
    assert isinstance(stop_set, frozenset)
    assert stop_set
    assert all(words(word) == [word] for word in stop_set)


def test_the_stop_sets_relate_as_designed() -> None:
    # The hashing embedder's set is the general set minus one word, frozen for stored vectors.
    assert {"ought"} == STOP_WORDS - HASHING_STOP_WORDS
    assert HASHING_STOP_WORDS < STOP_WORDS
    # Chat fillers are a separate vocabulary.
    assert CHAT_FILLERS.isdisjoint(STOP_WORDS)
    # The baselines' set is the general set with seven words left out, plus the fillers.
    assert BASELINE_STOP_WORDS >= CHAT_FILLERS
    assert {
        "ma", "might", "mightn", "must", "needn", "o", "shall",
    } == STOP_WORDS - BASELINE_STOP_WORDS  # fmt: skip
    assert BASELINE_STOP_WORDS - STOP_WORDS == CHAT_FILLERS
    # The trigger checks ignore only a short list of the commonest function words.
    assert TRIGGER_STOP_WORDS < STOP_WORDS
    assert TRIGGER_STOP_WORDS < BASELINE_STOP_WORDS


def test_stop_set_sizes_are_pinned() -> None:
    # Stored hash vectors and published baseline results depend on these exact sets.
    assert (len(STOP_WORDS), len(HASHING_STOP_WORDS)) == (159, 158)
    assert (len(CHAT_FILLERS), len(BASELINE_STOP_WORDS)) == (44, 196)
    assert len(TRIGGER_STOP_WORDS) == 46
