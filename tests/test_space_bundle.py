"""scripts/build_space_bundle.py: a self-contained Space folder."""

import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import (
    REPO,
    load_module,
)

from ko_asr.serving import (
    export_examples,
    find_models,
)


def test_space_bundle_is_self_contained(tmp_path, models_root, corpus):
    import sys

    build_bundle = load_module(REPO / "scripts" / "build_space_bundle.py", "build_space_bundle").build_bundle
    trained = shutil.copytree(models_root / "memorized", tmp_path / "run" / "memorized")
    (trained / "checkpoint-1").mkdir()  # training leftovers stay behind
    (trained / "events.out.tfevents.1").write_bytes(b"x")
    bundle = build_bundle(tmp_path / "space", [trained], corpus=corpus, examples=3)
    assert {p.name for p in bundle.iterdir()} >= {"app.py", "README.md", "requirements.txt", "packages.txt", "models", "examples", "ko_asr"}
    front_matter = (bundle / "README.md").read_text(encoding="utf-8").split("---")[1]
    assert "sdk: gradio" in front_matter and "app_file: app.py" in front_matter
    assert (bundle / "packages.txt").read_text().split() == ["ffmpeg"]
    assert "torch==2.14.1" in (bundle / "requirements.txt").read_text().splitlines()
    assert not list(bundle.rglob("__pycache__"))
    assert sorted(p.name for p in (bundle / "models" / "memorized").iterdir()) == sorted(
        p.name for p in (models_root / "memorized").iterdir()
    )
    # the Space imports ko_asr from beside app.py: the copied package is complete enough for the whole serving path
    imported = subprocess.run(
        [sys.executable, "-c", "import ko_asr.serving, ko_asr.data; print(ko_asr.__file__)"],
        cwd=bundle, capture_output=True, text=True, check=True,
    ).stdout.strip()
    assert Path(imported).resolve() == (bundle / "ko_asr" / "__init__.py").resolve()
    # the bundled app finds the bundled model and example clips by itself
    app = load_module(bundle / "app.py", "bundled_app")
    assert [s.label for s in find_models(app.SEARCH_ROOTS, environ={})][0] == "memorized (deepspeech2)"
    bundled = export_examples(bundle / "examples", tmp_path / "clips")
    assert [text for _, text in bundled] == [text for _, text in export_examples(corpus, tmp_path / "direct", count=3)]


def test_bundle_refuses_requirements_that_drift_from_pyproject(tmp_path):
    bundler = load_module(REPO / "scripts" / "build_space_bundle.py", "build_space_bundle")
    check_requirements_match_pyproject = bundler.check_requirements_match_pyproject
    drifted = tmp_path / "requirements.txt"
    drifted.write_text((REPO / "space" / "requirements.txt").read_text().replace("torch==2.14.1", "torch==2.13.0"))
    with pytest.raises(SystemExit, match=r"missing \['torch==2.14.1'\], extra \['torch==2.13.0'\]"):
        check_requirements_match_pyproject(drifted)
    check_requirements_match_pyproject(REPO / "space" / "requirements.txt")
