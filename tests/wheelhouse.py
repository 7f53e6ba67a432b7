"""Tiny packages built offline in a test: a pyproject and an in-tree PEP 517 backend
(``requires = []``, so ``uv build --no-index`` needs nothing from any index)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from uv import find_uv_bin

BACKEND = """\
import base64, hashlib, io, os, tarfile, time, zipfile

NAME, VERSION, DELAY, PAD = {name!r}, {version!r}, {delay!r}, {pad!r}
MODULE = "VERSION = " + repr(VERSION) + "\\nPAD = " + repr("x" * PAD) + "\\n"
WHEEL = "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n"
METADATA = "Metadata-Version: 2.1\\nName: " + NAME + "\\nVersion: " + VERSION + "\\n"
FILES = ["backend.py", "pyproject.toml"]


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{{name}},sha256={{digest}},{{len(data)}}"


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    time.sleep(DELAY)
    dist_info = f"{{NAME}}-{{VERSION}}.dist-info"
    files = {{
        f"{{NAME}}.py": MODULE.encode(),
        f"{{dist_info}}/METADATA": METADATA.encode(),
        f"{{dist_info}}/WHEEL": WHEEL.encode(),
    }}
    record = [_record_line(n, d) for n, d in files.items()] + [f"{{dist_info}}/RECORD,,"]
    files[f"{{dist_info}}/RECORD"] = ("\\n".join(record) + "\\n").encode()
    filename = f"{{NAME}}-{{VERSION}}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, filename), "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
    return filename


def build_sdist(sdist_directory, config_settings=None):
    base = f"{{NAME}}-{{VERSION}}"
    filename = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, filename), "w:gz") as sdist:
        for name in FILES:
            sdist.add(name, arcname=f"{{base}}/{{name}}")
        info = tarfile.TarInfo(f"{{base}}/PKG-INFO")
        data = METADATA.encode()
        info.size = len(data)
        sdist.addfile(info, io.BytesIO(data))
    return filename
"""

PYPROJECT = """\
[build-system]
requires = []
build-backend = "backend"
backend-path = ["."]

[project]
name = "{name}"
version = "{version}"
"""


def build_package(
    work: Path,
    out: Path,
    name: str,
    version: str,
    *,
    sdist: bool = False,
    delay: float = 0.0,
    pad: int = 0,
) -> Path:
    """Build ``name`` (module ``name`` with ``VERSION``) into ``out``; return the file.

    A wheel by default; an sdist (whose wheel build sleeps ``delay`` s) when asked. The
    module carries ``pad`` bytes of padding, for a big installed size.
    """
    source = work / f"{name}-{version}-src"
    source.mkdir(parents=True)
    (source / "pyproject.toml").write_text(PYPROJECT.format(name=name, version=version))
    (source / "backend.py").write_text(
        BACKEND.format(name=name, version=version, delay=delay, pad=pad)
    )
    out.mkdir(parents=True, exist_ok=True)
    kind = "--sdist" if sdist else "--wheel"
    subprocess.run(
        [find_uv_bin(), "build", "--no-config", "--no-index", "--quiet", kind,
         "--out-dir", str(out), str(source)],
        check=True, capture_output=True,
    )  # fmt: skip
    suffix = ".tar.gz" if sdist else "-py3-none-any.whl"
    return out / f"{name}-{version}{suffix}"
