"""The ordinary package build compiles cython_ext/ into statarb._<name>, and ships what a non-editable install needs."""
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYX = sorted(p.stem for p in (ROOT / "cython_ext").glob("*.pyx"))


def test_every_pyx_is_built_in_this_environment():
    import importlib
    for stem in PYX:
        mod = importlib.import_module(f"statarb._{stem}")
        assert Path(mod.__file__).suffix in (".so", ".pyd"), mod.__file__


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation", "-q", "-w", str(out)],
                   check=True, cwd=out)
    (whl,) = out.glob("statarb-*.whl")
    return whl


def test_wheel_contains_compiled_kernels_settings_and_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    for stem in PYX:
        assert any(n.startswith(f"statarb/_{stem}.") and n.endswith(".so") for n in names), f"statarb._{stem} missing"
    assert "statarb/_bundle/settings.ini" in names
    bundled = {Path(n).name for n in names if n.startswith("statarb/_bundle/data/")}
    assert bundled == {p.name for p in (ROOT / "data").glob("*.parquet")} and bundled


def test_non_editable_install_finds_its_settings_and_kernel(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)], check=True)
    env = {**os.environ, "PYTHONPATH": str(target)}
    env.pop("STATARB_SETTINGS", None)
    code = ("import statarb, statarb._hampel, statarb.config as c; "
            "p = c.settings_path(); cfg = c.get_config(); "
            f"print(p.parent.name, cfg.data_dir.is_dir(), statarb.__file__.startswith({str(target)!r}))")
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["_bundle", "True", "True"], out.stdout + out.stderr


def test_sdist_includes_cython_sources_settings_and_data(tmp_path):
    subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "-o", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    (sdist,) = tmp_path.glob("statarb-*.tar.gz")
    names = {Path(*Path(n).parts[1:]).as_posix() for n in tarfile.open(sdist).getnames()}
    for stem in PYX: assert f"cython_ext/{stem}.pyx" in names
    for f in ("settings.ini", "setup.py", "pyproject.toml", "README.md"): assert f in names
    assert any(n.startswith("data/") and n.endswith(".parquet") for n in names)


def test_readme_is_generated_from_index_notebook():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "make_readme.py"), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
