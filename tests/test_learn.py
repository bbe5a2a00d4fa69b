"""Learning from validated data: custom visual tags trained on a few examples, and a speech
glossary from transcript corrections, adopted only when it lowers the word error rate. Real
models throughout (EfficientNet-Lite0, Whisper tiny.en), real ffmpeg and espeak-ng media."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from PIL import Image

from aiwork.errors import AnalyzerUnavailable, InputError

from .conftest import require
from .sounds import speak, speech_clip
from .frames import frames_context

require("torch", "efficientnet_lite_pytorch", "faster_whisper", tools=("ffmpeg", "espeak-ng"))


def _lavfi(source: str, count: int) -> list[NDArray[np.uint8]]:
    """``count`` frames of an ffmpeg test source, 320x240 RGB."""
    raw = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", source, "-frames:v", str(count),
         "-f", "rawvideo", "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    frames = np.frombuffer(raw, dtype=np.uint8).reshape(count, 240, 320, 3)
    return [np.ascontiguousarray(f) for f in frames]


def crowd(seed: int, count: int = 2) -> list[NDArray[np.uint8]]:
    return _lavfi(f"life=s=320x240:random_seed={seed}:ratio=0.3:mold=10:rate=2", count)


def studio(seed: int, count: int = 2) -> list[NDArray[np.uint8]]:
    """Smooth two-colour backdrops (ffmpeg's gradients; every value set, as its own seed
    does not make it repeatable)."""
    rng = np.random.default_rng(seed)
    c0, c1 = (f"0x{int(v):06x}" for v in rng.integers(0, 0xFFFFFF, 2))
    x0, x1 = (int(v) for v in rng.integers(0, 320, 2))
    y0, y1 = (int(v) for v in rng.integers(0, 240, 2))
    return _lavfi(f"gradients=s=320x240:c0={c0}:c1={c1}:x0={x0}:y0={y0}:x1={x1}:y1={y1}:"
                  "nb_colors=2:rate=2", count)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> object:
    from aiwork.learn.tags import TagExample, train_custom_tags

    examples = [TagExample(label, picture=p, video=f"{label}-{seed}")
                for seed in range(1, 5)
                for label, kind in (("crowd", crowd), ("studio interview", studio))
                for p in kind(seed)]
    folder = tmp_path_factory.mktemp("tags")
    return train_custom_tags(examples, folder / "weights", name="platform-tags-v1",
                             held_out=0.25)


def test_custom_tags_learned_from_a_few_examples_classify_held_out_frames(
        trained: object, tmp_path: Path) -> None:
    from aiwork.analyzers.custom_tags import CustomTagsAnalyzer
    from aiwork.learn.tags import TagExample, TrainedTags, custom_tag_accuracy

    assert isinstance(trained, TrainedTags)
    assert trained.labels == ("crowd", "studio interview")
    assert trained.metrics["heldout"] > 0 and trained.metrics["heldout_videos"] >= 2
    assert trained.metrics["heldout_accuracy"] > trained.metrics["chance"]
    # Frames of videos never seen in training (other seeds), both kinds.
    unseen = ([TagExample("crowd", picture=p) for p in crowd(11, 3)]
              + [TagExample("studio interview", picture=p) for p in studio(11, 3)])
    assert custom_tag_accuracy(trained.path.parent, unseen) > 0.5  # chance is 0.5

    # The analyzer applies them, and its decision names the weights file's digest.
    analyzer = CustomTagsAnalyzer({"model": str(trained.path.parent), "sample_seconds": 1.0})
    analyzer.check()
    pictures = [Image.fromarray(p).resize((640, 360)) for p in crowd(12, 2) + studio(12, 2)]
    output = analyzer.analyze(frames_context(tmp_path, pictures))
    assert output.parameters["custom_tags_model_digest"] == trained.digest
    assert analyzer.model().weights_digest == trained.digest
    truth = ["crowd", "crowd", "studio interview", "studio interview"]
    tops = [frame["top"] for frame in output.evidence["frames"]]
    assert tops == truth
    # Each sampled frame stands for the second up to the next; touching ones merge.
    assert isinstance(output.items, list)
    assert {item["label"]: item["instances"] for item in output.items} == {
        "crowd": [{"start": 0.0, "end": 2.0, "confidence": pytest.approx(
            output.items[0]["confidence"])}],
        "studio interview": [{"start": 2.0, "end": 4.0, "confidence": pytest.approx(
            output.items[1]["confidence"])}]}
    assert all(item["source"] == f"custom:{item['label']}" for item in output.items)


def test_custom_tags_register_as_a_model_version(trained: object, tmp_path: Path) -> None:
    from aiwork.crypto import SigningKey
    from aiwork.ledger.home import init_ledger
    from aiwork.ledger.registry import models, registration_for
    from aiwork.learn.tags import TrainedTags, register_custom_tags

    assert isinstance(trained, TrainedTags)
    log = init_ledger(tmp_path / "ledger.db", origin="learn.example/log")
    index = register_custom_tags(log, SigningKey.generate(), trained, version="platform-1")
    body = log.entry(index).body
    assert body["analyzer"] == "custom_tags" and body["weights_digest"] == trained.digest
    assert body["metrics"]["heldout_accuracy"] == trained.metrics["heldout_accuracy"]
    assert registration_for(log, "custom_tags", trained.digest) == index
    assert [m.index for m in models(log, "custom_tags")] == [index]


def test_custom_tags_refuse_a_missing_or_forged_weights_file(tmp_path: Path) -> None:
    from aiwork.analyzers.custom_tags import CustomTagsAnalyzer
    from aiwork.learn.tags import TagExample, train_custom_tags

    with pytest.raises(AnalyzerUnavailable, match="no custom tags model"):
        CustomTagsAnalyzer().check()
    forged = tmp_path / "forged.npz"
    np.savez(forged, weights=np.full((2, 1280), np.nan), bias=np.zeros(2),
             threshold=np.float64(0.5), labels=np.str_('["a", "b"]'))
    with pytest.raises(AnalyzerUnavailable, match="out of range"):
        CustomTagsAnalyzer({"model": str(forged)}).check()
    one = [TagExample("crowd", features=np.zeros(1280, dtype=np.float32))]
    with pytest.raises(InputError, match="2 to"):
        train_custom_tags(one, tmp_path)
    with pytest.raises(InputError, match="model name"):
        train_custom_tags(one * 2, tmp_path, name="../escape")


# -- speech glossary ------------------------------------------------------------------------


def test_glossary_from_corrections_is_adopted_only_when_it_lowers_wer(tmp_path: Path) -> None:
    from aiwork.analyzers.transcript import TranscriptAnalyzer
    from aiwork.crypto import SigningKey
    from aiwork.ledger.home import init_ledger
    from aiwork.ledger.registry import models
    from aiwork.learn.glossary import (
        VerifiedSegment,
        adopt_glossary,
        glossary_from_corrections,
        register_glossary,
        transcribe_segments,
    )

    spoken = "Doctor Zorvathek examined the patient this morning."
    segment = VerifiedSegment(speak(spoken), spoken)
    # The AI's transcript of it, and the expert's correction.
    [heard] = transcribe_segments([segment])
    assert "zorvathek" not in heard.lower()
    glossary = glossary_from_corrections([(heard, spoken)])
    assert "Zorvathek" in glossary

    held_out = [VerifiedSegment(speak(t), t) for t in
                ("We met Zorvathek near the station.",)]
    decision = adopt_glossary(glossary, held_out)
    assert decision.adopted, decision.reason
    assert decision.wer_after < decision.wer_before
    # Adopted: a version of the transcript analyzer, named by the weights digest its decisions
    # record (Whisper's weights and the glossary together).
    log = init_ledger(tmp_path / "ledger.db", origin="learn.example/log")
    index = register_glossary(log, SigningKey.generate(), decision, version="medical-1")
    with_terms = TranscriptAnalyzer({"model": "tiny.en", "glossary": glossary})
    assert log.entry(index).body["weights_digest"] == with_terms.model().weights_digest
    assert with_terms.parameters()["glossary_digest"] == decision.digest
    assert log.entry(index).body["metrics"]["heldout_wer_after"] == decision.wer_after

    # A glossary of another domain's terms on speech without them: not adopted.
    other = glossary_from_corrections([("the quill a brand hex a four", "the Quillibrand "
                                        "Hexaphore")])
    assert other == ["Quillibrand", "Hexaphore"]
    plain = [VerifiedSegment(speak(t), t) for t in ("We met the doctor near the station.",
                                                      "Please open the door and sit down.")]
    refused = adopt_glossary(other, plain)
    assert not refused.adopted, refused.reason
    assert refused.wer_after >= refused.wer_before
    with pytest.raises(InputError, match="not adopted"):
        register_glossary(log, SigningKey.generate(), refused, version="other-1")
    assert len(models(log, "transcript")) == 1


def test_transcript_analyzer_records_its_glossary() -> None:
    from aiwork.analyzers.transcript import TranscriptAnalyzer

    params = TranscriptAnalyzer({"model": "tiny.en", "glossary": ["Zorvathek"]}).parameters()
    assert params["glossary"] == ["Zorvathek"] and params["glossary_as"] == "hotwords"
    assert "glossary" not in TranscriptAnalyzer({"model": "tiny.en"}).parameters()
    with pytest.raises(Exception, match="glossary"):
        TranscriptAnalyzer({"glossary": ["x" * 65]})


def test_a_decision_made_with_a_registered_glossary_names_it(tmp_path: Path) -> None:
    """A glossary is a model version: the decision of the transcript analyzer run with it
    names its registration, and lineage finds it; without it, Whisper's digest, unregistered."""
    from aiwork.analyzers.transcript import TranscriptAnalyzer
    from aiwork.crypto import SigningKey
    from aiwork.ledger.registry import lineage
    from aiwork.learn.glossary import GlossaryDecision, register_glossary
    from aiwork.pipeline.process import ProcessOptions, Processor

    clip = speech_clip("We met Doctor Zorvathek near the station.", tmp_path / "talk.mp4")
    measured = GlossaryDecision(True, ("Zorvathek",), 0.25, 0.0, 1, "measured")
    glossary = {"model": "tiny.en", "glossary": ["Zorvathek"]}
    plain = TranscriptAnalyzer({"model": "tiny.en"}).model().weights_digest
    assert TranscriptAnalyzer(glossary).model().weights_digest not in (plain, None)
    decisions: dict[str, tuple[int, dict[str, object]]] = {}
    db = tmp_path / "store.db"
    for name, settings in (("plain", {"model": "tiny.en"}), ("glossary", glossary)):
        with Processor(ProcessOptions(analyzers=["transcript"], force=True,
                                      settings={"transcript": settings}), db=db) as proc:
            if name == "plain":
                registered = register_glossary(proc.log, SigningKey.generate(), measured,
                                               version="medical-1")
            report = proc.process(clip, tmp_path / "out")
            assert report.status == "processed", report.error
            index = max(i for i in range(proc.log.size)
                        if proc.log.entry(i).kind.startswith("ai.decision"))
            decisions[name] = (index, proc.log.entry(index).body["model"])
            if name == "glossary":
                assert lineage(proc.log, index)["models"][0]["index"] == registered
    assert decisions["glossary"][1]["registration"] == registered
    assert decisions["glossary"][1]["weights_digest"] == measured.weights_digest()
    assert decisions["plain"][1]["weights_digest"] == plain
    assert "registration" not in decisions["plain"][1]


def test_glossary_terms_are_words_the_model_got_wrong_more_often_than_right() -> None:
    from aiwork.learn.glossary import glossary_from_corrections, term_errors, term_wer

    # "Doctor" was heard right as often as wrong: no term; the made-up name is one.
    assert glossary_from_corrections([("Dr. Quillard and prescribed it",
                                       "Doctor Quillibrand prescribed it"),
                                      ("we met the doctor", "we met the doctor")]) == [
        "Quillibrand"]
    # WER on terms: a term split in two is one error, a term kept is none; insertions
    # elsewhere are not the terms' errors.
    terms = ["Zorvathek", "Quillibrand"]
    assert term_errors("Doctor Zorvathek met Quillibrand today",
                       "doctor zorva thek met Quillibrand today, yes", terms) == (1, 2)
    assert term_errors("the Zorvathek lab", "the lab", terms) == (1, 1)
    assert term_errors("a plain sentence", "a plain sentence", terms) == (0, 0)
    assert term_wer(["Zorvathek here", "Quillibrand there"],
                    ["Zorvathek here", "quill a brand there"], terms) == 0.5
    assert term_wer(["nothing"], ["nothing"], terms) is None


def _row(split: str, ai: object, final: object, **extra: object) -> dict[str, object]:
    import json as jsonlib

    return {"id": "i1", "insight": "transcript", "split": split, "outcome": "corrected",
            "ai_value": jsonlib.dumps(ai), "final_value": None if final is None
            else jsonlib.dumps(final), "asset": "sha256:" + "a" * 64, "start": 1.0,
            "end": 3.5, **extra}


def test_transcript_examples_of_a_released_dataset_refuse_what_is_not_one() -> None:
    from aiwork.learn.glossary import transcript_examples

    found = transcript_examples([
        _row("train", "the quill a brand", "the Quillibrand"),
        _row("train", "we met", "we met", outcome="accepted"),
        _row("test", "we met zorva", "We met Zorvathek"),
        _row("validation", "it was", None, outcome="rejected"),
        {**_row("train", "x", "y"), "insight": "ocr"}])
    assert found.corrections == (("the quill a brand", "the Quillibrand"), ("we met", "we met"))
    assert found.corrected == 1 and found.left_out == 1
    assert [(s.asset[-1], s.start, s.end, s.text) for s in found.held_out] == [
        ("a", 1.0, 3.5, "We met Zorvathek")]
    for bad, words in ((_row("train", 3, "x"), "not JSON text"),
                       (_row("train", "x", "y", ai_value="{"), "not JSON text"),
                       (_row("test", "x", "y", asset="../etc/passwd"), "asset digest"),
                       (_row("test", "x", "y", start=4.0), "not a segment"),
                       (_row("test", "x", "y", end=500.0), "not a segment"),
                       (_row("test", "x", "y", start=True), "asset digest"),
                       (_row("elsewhere", "x", "y"), "in no split")):
        with pytest.raises(InputError, match=words):
            transcript_examples([bad])


def test_audio_span_reads_only_the_stretch_asked_for(tmp_path: Path) -> None:
    from aiwork.errors import MediaError
    from aiwork.media.decode import audio_span

    # 4 s at 440 Hz then 4 s at 880 Hz, in a WAV and in an MP4 (AAC) with a video track.
    wav = tmp_path / "tones.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:duration=4",
                    "-f", "lavfi", "-i", "sine=frequency=880:duration=4", "-filter_complex",
                    "[0][1]concat=n=2:v=0:a=1[a]", "-map", "[a]", "-ar", "16000", "-ac", "1",
                    str(wav)], check=True)
    mp4 = tmp_path / "tones.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=gray:s=64x64:r=10:d=8",
                    "-i", str(wav), "-c:v", "libx264", "-c:a", "aac", "-shortest", str(mp4)],
                   check=True)

    def pitch(samples: NDArray[np.float32]) -> float:
        return float(np.argmax(np.abs(np.fft.rfft(samples)))) * 16000 / len(samples)

    for path in (wav, mp4):
        span = audio_span(path, 3.5, 4.5)
        assert len(span) == 16000
        assert pitch(span[:4000]) == 440 and pitch(span[-4000:]) == 880
        # the change is in the middle, within 10 ms
        change = next(i for i in range(6000, 10000, 160)
                      if pitch(span[i:i + 160]) > 600)
        assert abs(change - 8000) <= 160
        assert len(audio_span(path, 7.5, 9.0)) == 8000  # the file ends at 8 s
    for start, end in ((-1.0, 2.0), (3.0, 3.0), (0.0, 500.0)):
        with pytest.raises(InputError, match="not a span"):
            audio_span(wav, start, end)
    silent = tmp_path / "silent.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=c=red:s=64x64:r=10:d=1",
                    "-c:v", "libx264", str(silent)], check=True)
    with pytest.raises(MediaError, match="no audio"):
        audio_span(silent, 0.0, 1.0)


def test_audio_span_holds_only_the_span_where_the_seek_lands_early(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A container whose seek does not move (decoding starts at 0): the samples before the
    span are dropped as they are decoded, not held until the end."""
    import tracemalloc

    import av

    from aiwork.media.decode import audio_span

    wav = tmp_path / "long.wav"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                    "sine=frequency=440:duration=120", "-f", "lavfi", "-i",
                    "sine=frequency=880:duration=2", "-filter_complex",
                    "[0][1]concat=n=2:v=0:a=1[a]", "-map", "[a]", "-ar", "16000", "-ac", "1",
                    str(wav)], check=True)
    monkeypatch.setattr(av.container.InputContainer, "seek", lambda self, *a, **k: None)
    tracemalloc.start()
    try:
        span = audio_span(wav, 119.5, 120.5)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(span) == 16000
    spectrum = np.abs(np.fft.rfft(span[-4000:]))
    assert float(np.argmax(spectrum)) * 16000 / 4000 == 880
    # 120 s held would be 7.7 MB of float32; the span is 64 kB
    assert peak < 2_000_000, peak
