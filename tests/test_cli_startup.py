"""`ko-asr --help` and argument errors answer without importing torch, transformers or the ko_asr package (whose
import registers the Auto classes and takes seconds): checked on the installed console script through
`python -X importtime`, which lists every module a process imports. The time itself is measured by
benchmarks/cli.py, not asserted here. Also: `ko-asr synth` speaks in flags, not keyword arguments."""

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from helpers import REPO

from ko_asr.cli import main

HEAVY = ("torch", "transformers", "datasets", "numpy", "ko_asr")


def _imported(arguments: list[str]) -> tuple[subprocess.CompletedProcess, set[str]]:
    script = Path(sys.executable).parent / "ko-asr"  # what `pip install` wrote for [project.scripts]
    result = subprocess.run([sys.executable, "-X", "importtime", str(script), *arguments], capture_output=True,
                            text=True, cwd="/")  # not the repository: the installed command must stand alone
    modules = {line.split("|")[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")}
    return result, modules


def test_the_console_script_is_the_light_module():
    scripts = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts == {"ko-asr": "ko_asr_cli:main"}
    assert "from ko_asr_cli import main" in (Path(sys.executable).parent / "ko-asr").read_text()


@pytest.mark.parametrize(
    ("arguments", "code"),
    [(["--help"], 0), (["transcribe", "--help"], 0), (["normalize", "--help"], 0),
     (["transcribe", "model", "a.wav", "--format", "xml"], 2), ([], 2)],
)
def test_help_and_argument_errors_import_nothing_heavy(arguments, code):
    result, modules = _imported(arguments)
    assert result.returncode == code, result.stderr[-2000:]
    assert "ko_asr_cli" in modules and "argparse" in modules  # the listing works
    assert sorted(m for m in modules if m.partition(".")[0] in HEAVY) == []
    if code == 0:
        assert result.stdout.startswith("usage: ko-asr")
    else:
        assert [line for line in result.stderr.splitlines() if not line.startswith("import time:")][-1].startswith("ko-asr")


def test_a_command_still_gets_the_registered_auto_classes(tmp_path):
    # past the parser, `ko_asr` is imported (and registers DeepSpeech2) before the command runs
    result = subprocess.run(
        [sys.executable, "-c", "import sys, ko_asr_cli; code = ko_asr_cli.main(['normalize', '-']); "
         "from transformers import CONFIG_MAPPING; print('deepspeech2' in CONFIG_MAPPING); sys.exit(code)"],
        input="안녕 하세요\n", capture_output=True, text=True, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.splitlines() == ["안녕 하세요", "True"]


def test_synth_on_a_folder_with_other_files_asks_for_the_flag(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine\n")
    assert main(["synth", str(tmp_path), "--size", "tiny"]) == 1
    err = capsys.readouterr().err
    assert err == (f"ko-asr synth: {tmp_path} is not empty and holds no synthetic corpus; pass --overwrite to replace it "
                   "(this deletes the files in it)\n")
    assert (tmp_path / "notes.txt").read_text() == "mine\n"
