"""Reading customers' words: case, accents, typos, three languages; the message catalogue."""

from __future__ import annotations

import string

import pytest

from loyalty_bot import keywords
from loyalty_bot.messages import CATALOGUE, LANGUAGES, STAMPS, for_card, text
from loyalty_bot.sms import gsm7_length


@pytest.mark.parametrize(
    ("typed", "command"),
    [
        ("balance", "balance"),
        ("BALANCE", "balance"),
        ("/balance", "balance"),
        ("/balance@LoyaltyBot", "balance"),
        ("Balnce", "balance"),
        ("blaance", "balance"),
        ("Sôlde", "balance"),
        ("mon solde", "balance"),
        ("Kontostand", "balance"),
        ("stamps", "balance"),
        ("mes tampons", "balance"),
        ("Stempel", "balance"),
        ("Carte", "card"),
        ("my card", "card"),
        ("Récompenses", "rewards"),
        ("Prämien", "rewards"),
        ("échanger 2", "redeem"),
        ("Einlösen", "redeem"),
        ("historique", "history"),
        ("Verlauf", "history"),
        ("magasins", "shops"),
        ("Filialen", "shops"),
        ("Sprache", "language"),
        ("AIDE", "help"),
        ("Hilfe", "help"),
        ("info", "help"),
        ("STOP", "stop"),
        ("Stopall", "stop"),
        ("unsubscribe", "stop"),
        ("START", "start"),
        ("unstop", "start"),
        ("oui", "yes"),
        ("Ja", "yes"),
        ("NEIN", "no"),
        ("Löschen", "delete"),
        ("delete my data", "delete"),
        ("join ABC123", "join"),
    ],
)
def test_commands_tolerate_case_accents_and_typos(typed, command):
    assert keywords.parse(typed).name == command


def test_the_argument_keeps_its_case():
    assert keywords.parse("JOIN AbC123").argument == "AbC123"
    assert keywords.parse("/start join_XY12").argument == "join_XY12"


@pytest.mark.parametrize("typed", ["", "   ", "yet", "see you there", "🤖", "asdfgh", "a@b.co"])
def test_other_text_is_no_command(typed):
    assert keywords.parse(typed).name == ""


def test_short_words_must_be_exact():
    assert keywords.parse("yep").name == ""
    assert keywords.parse("n").name == "no"


@pytest.mark.parametrize(
    ("typed", "answer"),
    [("n", "no"), ("No!", "no"), (" non. ", "no"), ("NEIN", "no"), ("Oui", "yes"), ("j", "yes")],
)
def test_a_yes_or_no_word_alone_is_an_answer(typed, answer):
    assert keywords.parse(typed).name == answer


@pytest.mark.parametrize(
    "typed", ["n importe quoi", "no idea what this is", "o la la", "j ai une question", "nope nope"]
)
def test_a_message_merely_starting_with_a_yes_or_no_word_is_no_answer(typed):
    assert keywords.parse(typed) == keywords.Command("", typed)


@pytest.mark.parametrize(
    "typed", ["hello", "Hi", "hey", "Bonjour", "salut", "Hallo", "Moien", "Hello!", "hello there"]
)
def test_a_greeting_asks_for_the_menu(typed):
    assert keywords.parse(typed).name == "help"


def test_a_greeting_followed_by_a_command_is_that_command():
    assert keywords.parse("Bonjour, mon solde ?").name == "balance"
    assert keywords.parse("hi REDEEM 2") == keywords.Command("redeem", "2")


@pytest.mark.parametrize(
    "typed", ["vouchers", "Voucher", "bons", "mes bons", "Gutscheine", "/vouchers"]
)
def test_vouchers_in_three_languages(typed):
    assert keywords.parse(typed).name == "vouchers"


@pytest.mark.parametrize(
    ("typed", "code"),
    [("fr", "fr"), ("Français", "fr"), ("deutsch", "de"), ("EN", "en"), ("klingon", "")],
)
def test_language_words(typed, code):
    assert keywords.language_of(typed) == code


@pytest.mark.parametrize("word", ["STOP", "stopall", "UNSUBSCRIBE", "cancel", "End", "quit"])
def test_sms_stop_words_any_case(word):
    assert keywords.is_sms_stop(word)
    assert not keywords.is_sms_start(word)


def test_every_message_exists_in_every_language_with_the_same_placeholders():
    formatter = string.Formatter()
    for key, entry in CATALOGUE.items():
        assert set(entry) == set(LANGUAGES), key
        fields = {
            lang: {f for _, f, _, _ in formatter.parse(entry[lang]) if f} for lang in LANGUAGES
        }
        assert fields["fr"] == fields["en"] == fields["de"], key


def test_a_stamp_version_says_the_same_text_with_stamps_and_only_to_stamp_cards():
    stamped = [key for key in CATALOGUE if key.endswith(STAMPS)]
    for key in stamped:
        base = key.removesuffix(STAMPS)
        assert base in CATALOGUE, key  # a version of a text, not a text of its own
        assert for_card(base, stamp_card=True) == key
        assert for_card(base, stamp_card=False) == base
    assert for_card("cancelled", stamp_card=True) == "cancelled"  # no version: the one text


def test_unknown_language_falls_back_to_english():
    assert text("cancelled", "xx") == CATALOGUE["cancelled"]["en"]


def test_gsm7_length_counts_extension_and_unicode():
    assert gsm7_length("Hello") == 5
    assert gsm7_length("€5") == 3
    assert gsm7_length("Prämien à gagner") == 16
    assert gsm7_length("ê" * 70) == 160  # outside GSM-7: one UCS-2 segment is 70 characters
