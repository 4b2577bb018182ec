"""Tests for kerasft.data.lines: the numbered line reader under every format."""

from kerasft.data.lines import read_lines


def test_numbers_decodes_and_strips_the_bom_of_line_one(tmp_path):
    path = tmp_path / "a.txt"
    path.write_bytes(b"\xef\xbb\xbffirst\r\n\xff bad\n\xef\xbb\xbfthird")
    first, bad, third = read_lines(path)
    assert (first.number, first.text, first.raw) == (
        1,
        "first\r\n",
        b"\xef\xbb\xbffirst\r\n",
    )
    assert (bad.number, bad.text, bad.error.start) == (2, None, 0)
    assert bad.where == f"{path}, line 2"
    assert not bad.is_blank
    # Only the first line can start with a byte order mark.
    assert third.text == "\ufeffthird"


def test_blank_lines_and_lenient_decoding(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"  \t\n\xffx\n")
    blank, lenient = read_lines(path, errors="surrogateescape")
    assert blank.is_blank
    assert (lenient.text, lenient.error) == ("\udcffx\n", None)
