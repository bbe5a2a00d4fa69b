"""`aiwork process` end to end on real files: decisions in the ledger, resume, bad input."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from aiwork.model.decision import output_digest
from aiwork.pipeline.process import ProcessOptions, Processor
from aiwork.cli import main
from aiwork.ledger import verify
from aiwork.ledger.log import Log
from aiwork.model import Entry
from aiwork.model.metadata import Metadata

FAST = ["technical", "shots", "language", "keywords", "chapters"]


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three coloured scenes, cuts at 3 s and 6 s, with a tone as audio."""
    folder = tmp_path_factory.mktemp("media")
    path = folder / "scenes.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=320x180:d=3:r=25",
           "-f", "lavfi", "-i", "color=c=blue:s=320x180:d=3:r=25",
           "-f", "lavfi", "-i", "color=c=green:s=320x180:d=3:r=25",
           "-f", "lavfi", "-i", "sine=frequency=440:duration=9",
           "-filter_complex", "[0][1][2]concat=n=3:v=1:a=0[v]", "-map", "[v]", "-map", "3",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest", str(path))
    return path


def processor(db: Path, names: list[str] = FAST, force: bool = False) -> Processor:
    return Processor(ProcessOptions(analyzers=names, force=force), db=db)


def test_every_item_traces_to_a_signed_decision(tmp_path: Path, clip: Path) -> None:
    db = tmp_path / "store.db"
    with processor(db) as proc:
        report = proc.process(clip, tmp_path / "out")
    assert report.status == "processed", report.error
    md = report.metadata
    assert md is not None
    assert [round(s.instances[0].start, 1) for s in md.shots] == [0.0, 3.0, 6.0]
    with Log.open(db) as log:
        log.verify()
        registered = Entry.from_bytes(log.get(md.asset.registered or 0))
        assert registered.kind == "asset.registered/v1"
        assert registered.body["digest"] == md.asset.digest
        shots_decision = Entry.from_bytes(log.get(md.shots[0].decision or 0))
        assert shots_decision.kind == "ai.decision/v2"
        body = shots_decision.body
        assert body["analyzer"] == "shots" and body["input"]["asset"] == md.asset.digest
        items = [s.model_dump(mode="json") for s in md.shots]
        assert body["output_digest"] == output_digest(items)
        assert body["evidence"]["keyframes"] == [s.keyframe.digest for s in md.shots if s.keyframe]
        proof = log.inclusion_proof(md.shots[0].decision or 0)
        verify.verify_entry_in_checkpoint(log.get(proof.leaf_index), proof.to_json(),
                                          log.__class__.open(db, None).latest_checkpoint()
                                          or _checkpoint(db), log.verifier_key)


def _checkpoint(db: Path) -> str:
    from aiwork.ledger.home import open_ledger

    with open_ledger(db, signing=True) as log:
        return log.checkpoint()


def test_outputs_follow_the_published_layout(tmp_path: Path, clip: Path) -> None:
    with processor(tmp_path / "store.db") as proc:
        report = proc.process(clip, tmp_path / "out")
    folder = tmp_path / "out" / "scenes"
    assert report.out_dir == folder
    doc = json.loads((folder / "metadata.json").read_text())
    assert list(doc) == ["schema_version", "asset", "technical", "shots", "transcript", "ocr",
                         "faces", "tags", "custom_tags", "safety", "audio_events", "keywords",
                         "chapters", "language", "stale"]
    Metadata.model_validate(doc)
    for shot in doc["shots"]:
        assert (folder / shot["keyframe"]["file"]).read_bytes()[:2] == b"\xff\xd8"  # JPEG
    jsonld = json.loads((folder / "metadata.jsonld").read_text())
    assert jsonld["@type"] == "VideoObject" and jsonld["duration"] == "PT9S"
    assert all(part["@type"] == "Clip" for part in jsonld.get("hasPart", []))
    assert (folder / "captions.vtt").read_text().startswith("WEBVTT")
    assert (folder / "chapters.vtt").read_text().startswith("WEBVTT")
    assert (folder / "captions.srt").exists()


def test_process_writes_ttml_and_absolute_jsonld_urls_on_request(
        tmp_path: Path, clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`--caption-format vtt,srt,ttml` adds captions.ttml; `--base-url` makes the JSON-LD's
    URLs absolute (the video beside its output folder); uploadDate is the time the video was
    registered; a bad format or URL is refused before anything runs."""
    import defusedxml.ElementTree as SafeET

    out = tmp_path / "out"
    assert main(["process", str(clip), "--analyzers", "technical,shots,chapters", "--out",
                 str(out), "--caption-format", "bogus,vtt"]) != 0
    assert main(["process", str(clip), "--analyzers", "technical,shots", "--out", str(out),
                 "--base-url", "javascript:alert(1)"]) != 0
    err = capsys.readouterr().err
    assert "unknown caption format 'bogus'" in err and "is not a base URL" in err
    assert not out.exists()
    assert main(["process", str(clip), "--analyzers", "technical,shots,chapters", "--out",
                 str(out), "--caption-format", "vtt,srt,ttml",
                 "--base-url", "https://media.example.org/talks/"]) == 0
    folder = out / "scenes"
    assert sorted(p.name for p in folder.iterdir()) == [
        "captions.srt", "captions.ttml", "captions.vtt", "chapters.vtt", "keyframes",
        "metadata.json", "metadata.jsonld"]
    root = SafeET.fromstring((folder / "captions.ttml").read_bytes())
    assert root.tag == "{http://www.w3.org/ns/ttml}tt"
    jsonld = json.loads((folder / "metadata.jsonld").read_text())
    doc = json.loads((folder / "metadata.json").read_text())
    assert jsonld["contentUrl"] == "https://media.example.org/talks/scenes.mp4"
    assert jsonld["thumbnailUrl"] == ("https://media.example.org/talks/scenes/"
                                      + doc["shots"][0]["keyframe"]["file"])
    from aiwork.config import default_db_path

    with Log.open(default_db_path()) as log:
        registered = Entry.from_bytes(log.get(doc["asset"]["registered"]))
    assert jsonld["uploadDate"] == doc["asset"]["uploaded"] == registered.time
    assert all(part["url"].startswith("https://media.example.org/talks/scenes.mp4#t=")
               for part in jsonld.get("hasPart", []))


def test_the_writer_refuses_a_name_outside_the_output_folder(tmp_path: Path,
                                                            clip: Path) -> None:
    """Even metadata that got past the schema writes nothing outside its folder: every name is
    resolved under it first, and a symbolic link planted there is not followed."""
    from aiwork.export.layout import write_outputs
    from aiwork.errors import UnsafeNameError

    with processor(tmp_path / "store.db", ["technical", "shots"]) as proc:
        report = proc.process(clip)
        md = report.metadata
        assert md is not None and md.shots[0].keyframe is not None
        victim = tmp_path / "victim"
        for name in ["../../victim/x.sh", str(victim / "x.sh"), "keyframes/../../x.sh",
                     "keyframes/\x00.jpg", ".."]:
            frame = md.shots[0].keyframe.model_copy(update={"file": name})  # not validated
            bad = md.model_copy(update={"shots": [md.shots[0].model_copy(
                update={"keyframe": frame})]})
            folder = tmp_path / "out" / "scenes"
            with pytest.raises(UnsafeNameError):
                write_outputs(bad, folder, proc.blobs.get)
            assert not folder.exists(), name  # refused before anything was written
        assert not victim.exists() and not (tmp_path / "x.sh").exists()

        victim.mkdir()
        planted = tmp_path / "out2" / "scenes"
        planted.mkdir(parents=True)
        (planted / "keyframes").symlink_to(victim)
        with pytest.raises(UnsafeNameError, match="outside"):
            write_outputs(md, planted, proc.blobs.get)
        assert list(victim.iterdir()) == []
        (planted / "keyframes").unlink()
        (planted / "metadata.json").symlink_to(victim / "m.json")
        with pytest.raises(UnsafeNameError, match="outside"):
            write_outputs(md, planted, proc.blobs.get)
        assert list(victim.iterdir()) == []


def test_a_local_file_name_becomes_a_plain_folder_name() -> None:
    from aiwork.export.layout import folder_name

    assert folder_name(Path("clip.mp4")) == "clip"
    assert folder_name(Path("..mp4")) == "video"  # its stem is "."
    assert folder_name(Path(".hidden.mp4")) == "hidden"
    assert folder_name(Path("line\nbreak\x00.mp4")) == "line_break_"
    assert len(folder_name(Path("é" * 200 + ".mp4")).encode()) <= 255


def test_two_keyframes_with_one_name_and_two_digests_are_refused(tmp_path: Path,
                                                                 clip: Path) -> None:
    from aiwork.export.layout import write_outputs
    from aiwork.errors import IntegrityError

    with processor(tmp_path / "store.db", ["technical", "shots"]) as proc:
        md = proc.process(clip).metadata
        assert md is not None and len(md.shots) >= 2
        first = md.shots[0].keyframe
        assert first is not None
        clash = md.shots[1].model_copy(update={"keyframe": md.shots[1].keyframe.model_copy(
            update={"file": first.file})})
        bad = md.model_copy(update={"shots": [md.shots[0], clash]})
        with pytest.raises(IntegrityError, match="different digests"):
            write_outputs(bad, tmp_path / "out", proc.blobs.get)
        assert not (tmp_path / "out").exists()


def test_resume_runs_only_what_is_missing(tmp_path: Path, clip: Path) -> None:
    db = tmp_path / "store.db"
    with processor(db, ["technical", "shots"]) as proc:
        first = proc.process(clip)
    assert set(first.ran) == {"technical", "shots"}
    with processor(db) as proc:
        second = proc.process(clip)
        expected = set(proc.analyzers) - {"technical", "shots"}  # with their dependencies
    assert set(second.ran) == expected and "chapters" in expected
    assert set(second.reused) == {"technical", "shots"}
    with processor(db) as proc:
        third = proc.process(clip)
    assert third.status == "already processed" and third.ran == {}
    with processor(db, force=True) as proc:
        assert set(proc.process(clip).ran) == set(proc.analyzers)
    with Log.open(db) as log:
        log.verify()
        kinds = [Entry.from_bytes(log.get(i)).kind for i in range(log.size)]
    assert kinds.count("asset.registered/v1") == 1  # registered once, whatever the runs


def bad_inputs(folder: Path, clip: Path) -> dict[str, tuple[Path, str]]:
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    text = folder / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    corrupt = folder / "corrupt.mp4"
    data = bytearray(clip.read_bytes())
    for i in range(64, len(data), 7):
        data[i] ^= 0x5A
    corrupt.write_bytes(bytes(data))
    truncated = folder / "truncated.mp4"
    truncated.write_bytes(clip.read_bytes()[: len(clip.read_bytes()) // 3])
    faststart = folder / "faststart.mp4"  # index first: the header survives, frames do not
    ffmpeg("-i", str(clip), "-c", "copy", "-movflags", "+faststart", str(faststart))
    cut = folder / "cut.mp4"
    cut.write_bytes(faststart.read_bytes()[: faststart.stat().st_size // 3])
    audio_only = folder / "audio.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=2", "-c:a", "aac", str(audio_only))
    huge = folder / "huge.y4m"
    huge.write_bytes(b"YUV4MPEG2 W16000 H16000 F25:1 Ip A1:1 C420jpeg\nFRAME\n" + bytes(1000))
    return {
        "missing": (folder / "missing.mp4", "no such file"),
        "empty": (empty, "empty"),
        "text": (text, "not a readable video"),
        "corrupt": (corrupt, "corrupt.mp4"),
        "truncated": (truncated, "truncated.mp4"),
        "cut after its header": (cut, "truncated or damaged"),
        "audio only": (audio_only, "no video track"),
        "huge": (huge, "16000x16000"),
    }


def test_bad_files_are_reported_and_the_batch_goes_on(tmp_path: Path, clip: Path) -> None:
    db = tmp_path / "store.db"
    cases = bad_inputs(tmp_path, clip)
    with processor(db) as proc:
        for name, (path, message) in cases.items():
            report = proc.process(path)
            assert report.status == "failed", name
            assert report.error and message in report.error and "\n" not in report.error, (
                name, report.error)
        assert proc.process(clip).status == "processed"
    with Log.open(db) as log:
        assert log.verify().size > 0


def test_cli_process_batch_with_a_bad_file(tmp_path: Path, clip: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.mp4"
    bad.write_text("nope")
    code = main(["process", str(bad), str(clip), "--analyzers", "technical,shots",
                 "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 1
    assert "bad.mp4" in captured.err and "Traceback" not in captured.err
    assert (tmp_path / "out" / "scenes" / "metadata.json").exists()
    assert main(["show", str(clip), "--insight", "shots"]) == 0
    shots = json.loads(capsys.readouterr().out)
    assert len(shots) == 3
    assert main(["ledger", "verify"]) == 0


def _unreadable_run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``aiwork ARGS`` in a process the operating system refuses unreadable files: as root,
    with the capabilities that bypass file permissions dropped (setpriv)."""
    import os
    import shutil
    import sys

    command = [sys.executable, "-m", "aiwork", *args]
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            from .conftest import missing

            missing("setpriv (util-linux) is needed to drop root's file-permission override")
        drop = "-dac_override,-dac_read_search"
        command = [setpriv, f"--bounding-set={drop}", f"--inh-caps={drop}", *command]
    return subprocess.run(command, env=env, capture_output=True, text=True, check=False,
                          timeout=300)


def test_an_unreadable_file_fails_alone_and_the_batch_goes_on(tmp_path: Path,
                                                              clip: Path) -> None:
    """A file the process may not read (chmod 000), a pipe, a link to nothing and a folder
    with no video, named beside a good video: each fails with its own line, the good one is
    processed and written, the exit status is 1."""
    import os

    locked = tmp_path / "locked.mp4"
    locked.write_bytes(clip.read_bytes()[:1000] + b"locked")
    locked.chmod(0o000)
    pipe = tmp_path / "pipe.mp4"
    os.mkfifo(pipe)  # opening it to read would wait for a writer forever
    dangling = tmp_path / "gone.mp4"
    dangling.symlink_to(tmp_path / "nowhere.mp4")
    folder = tmp_path / "folder.mp4"
    folder.mkdir()
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "AIWORK_HOME": str(home)}
    result = _unreadable_run("process", str(locked), str(pipe), str(dangling), str(folder),
                             str(clip), "--analyzers", "technical",
                             "--out", str(tmp_path / "out"), env=env)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()

    def line(path: Path) -> str:
        found = [text for text in lines if text.startswith(f"{path}: ")]
        assert len(found) == 1, (path, result.stderr)
        return found[0]

    assert "failed: " in line(locked) and "Permission denied" in line(locked)
    assert "not a regular file" in line(pipe)
    assert "a symbolic link to nothing" in line(dangling)
    assert "no video files" in line(folder)
    assert "processed" in line(clip)
    assert (tmp_path / "out" / "scenes" / "metadata.json").exists()


def test_videos_with_the_same_name_get_their_own_output_folders(
        tmp_path: Path, clip: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first, second = tmp_path / "a" / "clip.mp4", tmp_path / "b" / "clip.mkv"
    first.parent.mkdir()
    second.parent.mkdir()
    first.write_bytes(clip.read_bytes())
    ffmpeg("-f", "lavfi", "-i", "color=c=white:s=160x90:d=1:r=10", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", str(second))
    out = tmp_path / "out"
    assert main(["process", str(first), str(second), "--analyzers", "technical",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err

    def digest(folder: Path) -> str:
        return str(json.loads((folder / "metadata.json").read_text())["asset"]["digest"])

    from aiwork.digests import sha256_file

    assert digest(out / "clip") == sha256_file(first)
    assert digest(out / "clip-2") == sha256_file(second)
    assert f"outputs in {out / 'clip-2'} (not {out / 'clip'}: that folder holds another" in err
    # Later runs: each video goes back to its own folder; a third "clip" gets a third one.
    assert main(["process", str(second), "--analyzers", "technical", "--out", str(out)]) == 0
    assert f"outputs in {out / 'clip-2'} (not" in capsys.readouterr().err
    assert main(["process", str(first), "--analyzers", "technical", "--out", str(out)]) == 0
    assert f"outputs in {out / 'clip'}\n" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["clip", "clip-2"]
    assert digest(out / "clip") == sha256_file(first)


def test_schema_is_published(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "Metadata" and "shots" in schema["properties"]


def test_a_silent_video_is_processed(tmp_path: Path) -> None:
    silent = tmp_path / "silent.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=c=navy:s=320x180:d=3:r=25", "-c:v", "libx264",
           "-pix_fmt", "yuv420p", str(silent))
    with processor(tmp_path / "store.db", ["technical", "shots", "transcript",
                                            "audio_events"]) as proc:
        report = proc.process(silent)
    assert report.status == "processed", report.error
    assert report.metadata is not None and report.metadata.technical is not None
    assert report.metadata.technical.audio_codec is None
    assert report.metadata.transcript is not None and report.metadata.transcript.segments == []


def test_a_folder_is_processed(tmp_path: Path, clip: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "incoming"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.mp4").write_bytes(clip.read_bytes())
    (folder / "readme.txt").write_text("not a video, not picked up")
    assert main(["process", str(folder), "--analyzers", "technical"]) == 0
    assert "a.mp4: processed" in capsys.readouterr().err


def test_a_killed_run_resumes_without_redoing_finished_analyzers(tmp_path: Path,
                                                                 clip: Path) -> None:
    import os
    import signal
    import sys
    import time

    db = tmp_path / "store.db"
    env = dict(os.environ)  # the same AIWORK_HOME as the run after it
    work = Path(env["AIWORK_HOME"]) / "work"
    proc = subprocess.Popen(
        [sys.executable, "-m", "aiwork", "process", str(clip), "--db", str(db),
         "--analyzers", "technical,shots,ocr"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    done: set[str] = set()
    while time.monotonic() < deadline and proc.poll() is None:
        if db.exists() and Log.is_ledger(db):
            try:
                with Log.open(db) as log:
                    done = {Entry.from_bytes(log.get(i)).body.get("analyzer", "")
                            for i in range(log.size)}
            except Exception:  # the writer may hold the file; look again
                pass
            if "shots" in done:
                break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert "shots" in done, "the run ended before shots was logged"
    assert any(p.is_dir() for p in work.iterdir()), "the killed run left no work folder"
    with Log.open(db) as log:
        log.verify()
    with processor(db, ["technical", "shots", "ocr"]) as again:
        report = again.process(clip)
    assert list(work.iterdir()) == []  # the killed run's work folder is cleaned
    assert report.status in {"processed", "already processed"}
    assert "technical" not in report.ran and "shots" not in report.ran
    with Log.open(db) as log:
        log.verify()
        analyzers = [Entry.from_bytes(log.get(i)).body.get("analyzer") for i in range(log.size)]
    assert analyzers.count("shots") == 1 and analyzers.count("ocr") == 1


def test_the_published_schema_file_is_current() -> None:
    """docs/metadata.schema.json is what `aiwork schema` prints (regenerate it if this fails)."""
    from aiwork.model.metadata import json_schema

    published = Path(__file__).parents[1] / "docs" / "metadata.schema.json"
    assert json.loads(published.read_text()) == json_schema()


def test_a_frame_larger_than_its_header_says_is_refused(tmp_path: Path) -> None:
    """Two H.264 streams joined: 2 s at 320x240 (what the header says), then one frame of
    8192x4320 (35 Mpixels, beyond the 8K limit). The decoder refuses that frame and the
    file fails, naming both sizes; nothing is decided about it."""
    small, large = tmp_path / "small.h264", tmp_path / "large.h264"
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=320x240:rate=10:duration=2", "-c:v", "libx264",
           "-preset", "ultrafast", "-f", "h264", str(small))
    ffmpeg("-f", "lavfi", "-i", "color=c=red:size=8192x4320:rate=10", "-frames:v", "1",
           "-c:v", "libx264", "-preset", "ultrafast", "-f", "h264", str(large))
    joined = tmp_path / "joined.h264"
    joined.write_bytes(small.read_bytes() + large.read_bytes())
    video = tmp_path / "resized.mkv"
    ffmpeg("-r", "10", "-f", "h264", "-i", str(joined), "-c", "copy", str(video))
    db = tmp_path / "store.db"
    with processor(db, ["technical", "shots"]) as proc:
        report = proc.process(video)
    assert report.status == "failed"
    assert report.error and "8192x4320" in report.error, report.error
    assert "the header said 320x240" in report.error
    with Log.open(db) as log:
        assert not [i for i in range(log.size)
                    if Entry.from_bytes(log.get(i)).kind.startswith("ai.decision")]


def test_the_duration_is_what_the_file_holds_not_what_its_header_claims(
        tmp_path: Path) -> None:
    """A 20 s Matroska file whose header (Segment Duration) is rewritten to say 1 ms."""
    import struct

    honest = tmp_path / "honest.mkv"
    ffmpeg("-f", "lavfi", "-i", "color=c=red:s=64x48:d=10:r=10",
           "-f", "lavfi", "-i", "color=c=blue:s=64x48:d=10:r=10",
           "-filter_complex", "[0][1]concat=n=2:v=1:a=0[v]", "-map", "[v]",
           "-c:v", "libx264", "-pix_fmt", "yuv420p", str(honest))
    data = bytearray(honest.read_bytes())
    at = data.find(b"\x44\x89\x88")  # Duration, an 8-byte float, in TimecodeScale units (ms)
    assert at > 0 and struct.unpack(">d", data[at + 3: at + 11]) == (20000.0,)
    data[at + 3: at + 11] = struct.pack(">d", 1.0)
    lying = tmp_path / "lying.mkv"
    lying.write_bytes(bytes(data))
    from aiwork.media import probe
    assert probe(lying).duration == pytest.approx(0.001)  # the header's claim

    db = tmp_path / "store.db"
    with processor(db, ["technical", "shots"]) as proc:
        report = proc.process(lying)
    assert report.status == "processed" and report.metadata is not None, report.error
    meta = report.metadata.model_dump(mode="json")
    assert meta["technical"]["duration"] == pytest.approx(20.0, abs=0.11)
    assert meta["shots"][-1]["instances"][0]["end"] == pytest.approx(20.0, abs=0.11)
    assert [round(s["instances"][0]["start"]) for s in meta["shots"]] == [0, 10]
    with Log.open(db) as log:
        bodies = [Entry.from_bytes(log.get(i)).body for i in range(log.size)]
    [registered] = [b for b in bodies if "probe" in b]
    assert registered["probe"]["duration"] == pytest.approx(20.0, abs=0.11)
    ends = [b["input"]["end"] for b in bodies if "input" in b]
    assert len(ends) == 2 and ends == [meta["technical"]["duration"]] * 2


def _peak_rss_mib(*args: str) -> float:
    """Run ``aiwork ARGS`` in a child of a small Python parent and return the child's peak
    resident memory (its ru_maxrss), in MiB."""
    import sys

    parent = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True); "
              "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    done = subprocess.run([sys.executable, "-c", parent, sys.executable, "-m", "aiwork", *args],
                          capture_output=True, text=True, check=True)
    return int(done.stdout.split()[-1]) / 1024


def test_memory_stays_flat_in_the_videos_length(tmp_path: Path) -> None:
    """A 10 min video (16x16, 1 fps, a tone as audio) peaks at about the memory of a 1 min
    one with the analyzers that read the whole audio track: before, its audio (and float64
    copies of it) were held whole: 332 MiB more for 15 min, 3.7 GB for 3 h."""
    peaks = {}
    for minutes in (1, 10):
        video = tmp_path / f"{minutes}min.mp4"
        seconds = str(minutes * 60)
        ffmpeg("-f", "lavfi", "-i", f"testsrc=size=16x16:rate=1:duration={seconds}",
               "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=16000:duration={seconds}",
               "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "16k",
               "-shortest", str(video))
        peaks[minutes] = _peak_rss_mib("process", str(video), "--db", str(tmp_path / "m.db"),
                                       "--analyzers", "technical,shots,audio_events,transcript")
    print(f"peak resident memory, MiB: {peaks}")
    assert peaks[10] < peaks[1] + 128, peaks
    assert peaks[10] < 2048, peaks
