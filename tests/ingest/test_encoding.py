"""Tests of onemap.ingest.encoding: BOM -> strict UTF-8 -> GBK/GB18030 detection and errors."""

from __future__ import annotations

import codecs

import pytest

from onemap.errors import EncodingError, FormatError
from onemap.ingest.encoding import decode_text, detect_encoding

TEXT = "[属性描述]\r\n坐标系=2000国家大地坐标系\r\n[地块坐标]\r\n5,1.2,1,测试地块,面,,,,@\r\n"


@pytest.mark.parametrize(
    "encoding, expected",
    [
        ("gbk", "gbk"),
        ("gb2312", "gbk"),
        ("utf-8", "utf-8"),
        ("utf-8-sig", "utf-8-sig"),
        ("utf-16", "utf-16"),  # with BOM, native (little-endian) order
    ],
)
def test_detects_and_round_trips(encoding, expected):
    data = TEXT.encode(encoding)
    assert detect_encoding(data) == expected
    text, used = decode_text(data)
    assert used == expected
    assert text == TEXT


def test_utf16_big_endian_bom():
    data = codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be")
    assert detect_encoding(data) == "utf-16"
    assert decode_text(data) == (TEXT, "utf-16")


def test_gb18030_only_characters_reported_as_gb18030():
    # U+20000 (CJK extension B) needs a four-byte GB18030 sequence; GBK cannot encode it
    text = "地块名称=\U00020000村"
    data = text.encode("gb18030")
    with pytest.raises(UnicodeDecodeError):
        data.decode("gbk")
    assert detect_encoding(data) == "gb18030"
    assert decode_text(data) == (text, "gb18030")


def test_ascii_is_utf8_and_empty_is_utf8():
    assert detect_encoding(b"J1,1,3353189.181,39456780.123") == "utf-8"
    assert decode_text(b"") == ("", "utf-8")


def test_explicit_encoding_wins_and_bom_char_dropped():
    data = TEXT.encode("gbk")
    # gbk bytes are also decodable as latin-1: the explicit choice is honoured
    text, used = decode_text(data, encoding="latin-1")
    assert used == "latin-1" and text == data.decode("latin-1")
    assert decode_text(codecs.BOM_UTF8 + b"abc", encoding="utf-8") == ("abc", "utf-8")


def test_explicit_wrong_encoding_names_offset_and_line(tmp_path):
    data = b"[\xca\xf4]\r\nabc\r\nJ1,1,\xff\xfe"  # GBK header, then invalid bytes on line 3
    with pytest.raises(EncodingError) as info:
        decode_text(data, path=tmp_path / "a.txt", encoding="utf-8")
    err = info.value
    assert err.line == 1 and "byte offset 1" in str(err) and "a.txt" in str(err)
    assert "encoding=" in str(err)


def test_undecodable_names_offset_line_and_hint():
    data = "[属性描述]\r\nJ1,1,".encode("gbk") + b"\x80\xff" + b"\r\n"
    offset = len("[属性描述]\r\nJ1,1,".encode("gbk"))
    with pytest.raises(EncodingError) as info:
        decode_text(data, path="x.txt")
    err = info.value
    assert isinstance(err, FormatError)
    assert err.path == "x.txt" and err.line == 2
    assert f"byte offset {offset}" in str(err)
    assert "encoding=" in err.hint


def test_line_count_with_bare_cr():
    data = b"a\rb\r\nc\n" + b"\x80\x80"
    with pytest.raises(EncodingError) as info:
        detect_encoding(data)
    assert info.value.line == 4


def test_bomless_utf16_gets_a_specific_hint():
    data = "J1,1,3353189.181,39456780.123\r\n圈".encode("utf-16-le")
    with pytest.raises(EncodingError) as info:
        decode_text(data, path="u.txt")
    assert "utf-16-le" in info.value.hint and info.value.line == 1
    # and the hinted encoding does decode it
    assert decode_text(data, encoding="utf-16-le")[0] == "J1,1,3353189.181,39456780.123\r\n圈"


def test_binary_garbage_with_nul_is_rejected():
    data = bytes(range(256)) * 4
    with pytest.raises(EncodingError) as info:
        decode_text(data, path="g.bin")
    assert "byte offset 0" in str(info.value) and "not a text file" in info.value.hint


def test_unknown_codec_name():
    with pytest.raises(EncodingError, match="unknown encoding"):
        decode_text(b"abc", encoding="no-such-codec")
