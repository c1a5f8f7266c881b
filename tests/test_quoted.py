"""Quote evidence for replies that lost their headers (inbox.quoted)."""

from __future__ import annotations

import textwrap

from inbox.quoted import MIN_LINE, best_quoted

ASKED = ("Добрый день!\n\nМы дважды перезагрузили компьютер, но проблема осталась.\n"
         "Код подтверждения не приходит ни по СМС, ни на почту.\n\nСпасибо,\nИван")
OTHER = "Здравствуйте!\n\nСчёт за ноябрь выставлен дважды, проверьте, пожалуйста.\n\nИван"


def rewrapped_quote(text: str) -> str:
    """The body between greeting and signature, re-wrapped narrower and marked with ">"."""
    return "\n".join("> " + line for line in textwrap.wrap(text.split("\n\n")[1], 40))


def test_a_rewrapped_quote_names_the_thread_it_comes_from():
    assert best_quoted(rewrapped_quote(ASKED), [(1, OTHER), (2, ASKED)]) == 2


def test_one_stock_sentence_is_not_enough():
    history = "> Мы дважды перезагрузили компьютер, но проблема осталась."
    assert best_quoted(history, [(2, ASKED)]) is None
    # ... unless the caller only tells apart threads it already trusts.
    assert best_quoted(history, [(2, ASKED)], minimum=MIN_LINE) is None  # share too small
    short = "Добрый день!\n\nМы дважды перезагрузили компьютер, но проблема осталась."
    assert best_quoted(history, [(1, OTHER), (2, short)], minimum=MIN_LINE) == 2


def test_two_threads_quoted_alike_are_no_answer():
    assert best_quoted(rewrapped_quote(ASKED), [(1, ASKED), (2, ASKED)]) is None


def test_nothing_quoted_is_no_answer():
    assert best_quoted("", [(1, ASKED)]) is None
    assert best_quoted("Спасибо!", [(1, ASKED)]) is None


def test_a_canned_answer_in_two_threads_is_no_answer():
    canned = "\nОплатить можно картой в личном кабинете, раздел «Платежи», в любое время."
    history = "> Оплатить можно картой в личном кабинете, раздел «Платежи», в любое время."
    assert best_quoted(history, [(1, canned), (2, canned)]) is None
    assert best_quoted(history, [(1, "Добрый день!" + canned)]) == 1  # alone, it is evidence
