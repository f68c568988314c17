"""``[report] lang`` in the survey TOML."""

import pytest

from onemap.config import load_config
from onemap.errors import ConfigError
from tests.test_config import GOOD, files, write  # noqa: F401  (files is a fixture)


def test_report_language_defaults_to_chinese(files):  # noqa: F811
    assert load_config(write(files, GOOD)).report_lang == "zh"
    assert load_config(write(files, GOOD + '[report]\nlang = "en"\n')).report_lang == "en"


@pytest.mark.parametrize(
    "hunk,match",
    [
        ('[report]\nlang = "fr"\n', r"\[report\] lang"),
        ('[report]\nlanguage = "en"\n', "did you mean 'lang'"),
    ],
)
def test_report_section_is_checked(files, hunk, match):  # noqa: F811
    with pytest.raises(ConfigError, match=match):
        load_config(write(files, GOOD + hunk))
