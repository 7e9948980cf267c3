"""`ko-asr normalize`: transcript files in any saved encoding, every skipped line counted with its reason."""

import pytest

from ko_asr.cli import main

LINES = ["그 돈이 (70%) / (칠십 퍼센트)는 넘을걸", "그게 u/ 뭐였지", "(20년)/(이십 년 전에", "갔거든b/ 근데", ""]


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "cp949"])
def test_normalize_reads_any_encoding_and_counts_skipped_lines(tmp_path, capsys, encoding):
    path = tmp_path / "lines.txt"
    path.write_bytes("\n".join(LINES).encode(encoding))
    assert main(["normalize", str(path), "--policy", "phonetic", "--unintelligible", "drop"]) == 1  # one malformed
    out, err = capsys.readouterr()
    assert out.splitlines() == ["그 돈이 칠십 퍼센트는 넘을걸", "갔거든 근데"]
    assert f"{path}:2" in err and "unintelligible_dropped" in err
    assert f"{path}:3" in err and "malformed_notation" in err
    assert "skipped 2 of 4 lines: malformed_notation 1, unintelligible_dropped 1" in err


def test_dropping_on_request_is_not_a_failure_and_bad_bytes_are_one_line(tmp_path, capsys):
    path = tmp_path / "lines.txt"
    path.write_bytes("그게 u/ 뭐였지\n안녕\n".encode("cp949"))
    assert main(["normalize", str(path), "--unintelligible", "drop"]) == 0
    assert capsys.readouterr().out == "안녕\n"
    path.write_bytes("안녕\n".encode("cp949") + b"\xff\xfe\n" + "잘 가\n".encode())
    assert main(["normalize", str(path)]) == 1
    out, err = capsys.readouterr()
    assert out.splitlines() == ["안녕", "잘 가"] and f"{path}:2: neither UTF-8 nor CP949" in err


def test_a_missing_file_is_one_line(tmp_path, capsys):
    assert main(["normalize", str(tmp_path / "nowhere.txt")]) == 2
    assert capsys.readouterr().err.strip() == f"ko-asr normalize: {tmp_path / 'nowhere.txt'}: No such file or directory"
