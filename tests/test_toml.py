"""TOML syntax errors name the file, the line, the column, what the line reads and the fix."""

import pytest

from onemap import load_config
from onemap._toml import load_toml
from onemap.errors import ConfigError


@pytest.mark.parametrize("text, line, column, reads, fix", [
    ('[survey]\nname = "x"\n[frame\nres = 2\n', 3, 7, "[frame", "close the table name with ']'"),
    ('[survey]\nname = county\n', 2, 8, "name = county", 'e.g. name = "county"'),
    ('[survey]\nname = "x\n', 2, 10, 'name = "x', "close the quoted text"),
    ('[survey]\nname = "x"\nname = "y"\n', 3, 11, 'name = "y"', "give each key once"),
    ('[survey]\nname =\n', 2, 7, "name =", "give name a value"),
])
def test_syntax_error_names_line_column_and_fix(tmp_path, text, line, column, reads, fix):
    path = tmp_path / "survey.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)  # the survey's own loader
    err = caught.value
    assert err.path == str(path) and err.line == line
    assert f"at column {column}" in err.message and f"the line reads {reads!r}" in err.message
    assert fix in err.hint
    assert str(err).startswith(f"{path}, line {line}: not valid TOML at column {column}")


def test_error_at_the_end_of_the_file(tmp_path):
    path = tmp_path / "t.toml"
    path.write_text('[train]\nout = "m.json"\nbands = [1, 2', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_toml(path)
    assert caught.value.line == 3 and "not valid TOML" in caught.value.message


def test_not_utf8_names_the_line(tmp_path):
    path = tmp_path / "gbk.toml"
    path.write_bytes('[survey]\nname = "县"\n'.encode("gbk"))
    with pytest.raises(ConfigError, match=r"gbk.toml, line 2: not UTF-8 text"):
        load_toml(path)


def test_training_toml_error_names_the_line(tmp_path):
    from onemap.change.train_config import load_pairs

    path = tmp_path / "train.toml"
    path.write_text('[train]\nout = model.json\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_pairs(path)  # the loader of `onemap train`
    assert caught.value.line == 2 and "not valid TOML" in caught.value.message
