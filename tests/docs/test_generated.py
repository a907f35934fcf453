"""The generated documents are current: each is regenerated and compared with the committed one."""

from __future__ import annotations

from pathlib import Path

import pytest

from rookery.config import Settings
from rookery.docs import configuration, mapping
from rookery.docs.files import replace_block

ROOT = Path(__file__).resolve().parents[2]


def test_mapping_md_is_current() -> None:
    committed = (ROOT / mapping.DEFAULT_PATH).read_text(encoding="utf-8")
    assert committed == mapping.render(), (
        f"docs/mapping.md differs from the code's tables; run: {mapping.REGENERATE}"
    )


def test_operations_md_configuration_table_is_current() -> None:
    committed = (ROOT / configuration.DEFAULT_PATH).read_text(encoding="utf-8")
    assert committed == configuration.render(committed), (
        f"the configuration table of docs/operations.md is stale; run: {configuration.REGENERATE}"
    )


def test_check_fails_on_a_stale_file_and_names_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "mapping.md"
    path.write_text("stale\n", encoding="utf-8")
    assert mapping.main(["--check", "--path", str(path)]) == 1
    assert mapping.REGENERATE in capsys.readouterr().err
    assert mapping.main(["--path", str(path)]) == 0
    assert mapping.main(["--check", "--path", str(path)]) == 0


def test_every_setting_has_a_row() -> None:
    table = configuration.render_table()
    for name in Settings.model_fields:
        assert f"`ROOKERY_{name.upper()}`" in table


def test_a_document_without_the_markers_is_refused() -> None:
    with pytest.raises(ValueError, match="BEGIN generated configuration"):
        replace_block("# no markers\n", configuration.BLOCK, "table\n")
