"""Task and group names are raw bytes any user can choose."""

import pytest

from orchestrator.kernel import names


@pytest.mark.parametrize("value,text", [
    ("kthreadd", "kthreadd"),
    ([99, 97, 102, -61, -87, 0, 0, 0], "café"),   # bpftool prints UTF-8 as signed numbers
    ([110, 101, 119, 10, 108, 105, 110, 101, 0], "new\\nline"),
    ([98, 97, 100, -1, 0], "bad\\xff"),
    ([9, 13, 27, 0], "\\t\\r\\x1b"),
    ("back\\slash", "back\\\\slash"),              # so that no escape is ambiguous
    ([0xE2, 0x82, 0], "\\xe2\\x82"),               # UTF-8 cut by the 16-byte comm
    ([0xC2, 0x85, 0], "\\x85"),                    # a C1 control character
    ([97, 0, 98], "a"),                            # text after the NUL is not the name
])
def test_names_become_one_line_of_readable_text(value, text):
    assert names.decode(value) == text


def test_every_byte_string_gives_one_printable_line():
    for first in range(256):
        for second in (0x41, 0x80, 0xBF, 0xC3):
            text = names.escape(bytes([first, second]))
            assert text.isprintable() and "\n" not in text


@pytest.mark.parametrize("typed,name", [
    ("café", "café"),
    ("new\nline", "new\\nline"),        # a real newline, typed raw
    ("new\\nline", "new\\nline"),      # the same name, typed as shown
    ("a\\\\b", "a\\\\b"),          # a literal backslash, typed as shown
    ("bad\udcff", "bad\\xff"),          # a byte that is not UTF-8, as the shell passes it
])
def test_a_typed_name_means_one_shown_name(typed, name):
    assert names.shown(typed) == name
