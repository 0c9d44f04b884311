"""Build hook: compile every cython_ext/<name>.pyx into the extension module statarb._<name>.

Metadata lives in pyproject.toml; this file only adds what setuptools cannot declare there:
the Cython extensions, and copies of settings.ini and the bundled data/ inside the wheel so a
non-editable install finds its research defaults and sample data.
"""
import shutil
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent
DIRECTIVES = dict(language_level=3, boundscheck=False, wraparound=False, cdivision=True,
                  initializedcheck=False, nonecheck=False)


def extensions():
    exts = [Extension(f"statarb._{p.stem}", [str(p.relative_to(ROOT))], include_dirs=[np.get_include()],
                      define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
                      extra_compile_args=["-O3"])
            for p in sorted((ROOT / "cython_ext").glob("*.pyx"))]
    return cythonize(exts, compiler_directives=DIRECTIVES, quiet=True)


class BuildPyWithBundle(build_py):
    "Ship settings.ini and data/*.parquet inside the package as statarb/_bundle/ (wheel only)."
    def run(self):
        super().run()
        dest = Path(self.build_lib) / "statarb" / "_bundle"
        (dest / "data").mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / "settings.ini", dest / "settings.ini")
        for f in (ROOT / "data").glob("*.parquet"): shutil.copy2(f, dest / "data" / f.name)


setup(ext_modules=extensions(), cmdclass={"build_py": BuildPyWithBundle})
