"""The programs and font the generator needs (ffmpeg, espeak-ng, DejaVu Sans Bold), found on
this machine or named by the Debian package that provides them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from aiwork.errors import ConfigError

__all__ = ["find_font", "need_tool", "run_tool"]

_FONT_CANDIDATES = (
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
)
_FONT_PACKAGE = "fonts-dejavu-core"


def need_tool(name: str, package: str) -> str:
    """The path of program ``name``; :class:`ConfigError` naming its Debian package if none."""
    path = shutil.which(name)
    if path is None:
        raise ConfigError(
            f"{name} is not installed (not found on PATH)",
            hint=f"install the Debian package {package}: apt-get install {package}",
        )
    return path


def find_font(font: Path | None = None) -> Path:
    """The TrueType font captions are drawn in: ``font`` if given, else DejaVu Sans Bold from
    Debian's ``fonts-dejavu-core`` (or whatever ``fc-match`` offers for it)."""
    if font is not None:
        if not font.is_file():
            raise ConfigError(f"caption font {font} does not exist")
        return font
    for candidate in _FONT_CANDIDATES:
        if candidate.is_file():
            return candidate
    fc_match = shutil.which("fc-match")
    if fc_match is not None:
        found = subprocess.run(
            [fc_match, "-f", "%{file}", "DejaVu Sans:bold"], capture_output=True, text=True
        )
        path = Path(found.stdout.strip())
        if found.returncode == 0 and path.suffix.lower() == ".ttf" and path.is_file():
            return path
    raise ConfigError(
        "no caption font: DejaVu Sans Bold was not found",
        hint=f"install the Debian package {_FONT_PACKAGE}: apt-get install {_FONT_PACKAGE}",
    )


def run_tool(cmd: list[str], what: str, *, cwd: Path | None = None) -> None:
    """Run ``cmd``; :class:`ConfigError` with the last lines of its errors if it fails."""
    done = subprocess.run(cmd, cwd=cwd, capture_output=True)
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip().splitlines()
        tail = " | ".join(err[-3:]) or f"exit status {done.returncode}"
        raise ConfigError(f"{what} failed: {tail}")
