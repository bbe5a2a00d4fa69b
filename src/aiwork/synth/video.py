"""The picture of a labelled clip: one ffmpeg filtergraph draws the solid-colour scenes, overlays
the face photographs and draws the captions, each on exactly its frames."""

from __future__ import annotations

from pathlib import Path

from aiwork.synth.spec import ClipSpec

__all__ = ["BOX_BORDER", "ffmpeg_colour", "video_graph"]


BOX_BORDER = 14
"""Pixels of black box around a caption's text."""


def ffmpeg_colour(c: str) -> str:
    """A spec colour as ffmpeg names it (``#rrggbb`` -> ``0xrrggbb``)."""
    return "0x" + c[-6:] if c.startswith(("#", "0x")) else c


def video_graph(spec: ClipSpec, work: Path, first_face_input: int) -> str:
    """The filtergraph (ffmpeg ``-filter_complex``) that draws the scenes, faces and
    captions; it only names files inside ``work`` (ffmpeg runs there), so nothing needs
    escaping."""
    size = f"{spec.width}x{spec.height}"
    chains = []
    for i, (scene, frames) in enumerate(zip(spec.scenes, spec.scene_frames)):
        chains.append(
            f"color=c={ffmpeg_colour(scene.colour)}:s={size}:r={spec.fps},"
            f"trim=end_frame={frames},setpts=PTS-STARTPTS,setsar=1[s{i}]"
        )
    labels = "".join(f"[s{i}]" for i in range(len(spec.scenes)))
    chains.append(f"{labels}concat=n={len(spec.scenes)}:v=1:a=0[v0]")
    last = "v0"
    step = 0

    def enable(start_s: float, end_s: float) -> str:
        # By time, with half a frame of slack either side: ``n`` is not the main input's
        # frame number in overlay once its second input starts late.
        a, b = spec.frame_at(start_s) - 0.5, spec.frame_at(end_s) - 0.5
        return f"enable='between(t,{a / spec.fps:.6f},{b / spec.fps:.6f})'"

    for k, face in enumerate(spec.faces):
        x, y = spec.face_xy(face)
        # The picture input only lasts the face's range and is shifted to start there, so a
        # long clip does not decode and scale it on every frame.
        shift = spec.frame_at(face.start_s) / spec.fps
        chains.append(
            f"[{first_face_input + k}:v]scale={face.size}:{face.size},setsar=1,"
            f"setpts=PTS+{shift:.6f}/TB[f{k}]"
        )
        step += 1
        chains.append(
            f"[{last}][f{k}]overlay=x={x}:y={y}:eof_action=pass:{enable(face.start_s, face.end_s)}"
            f"[v{step}]"
        )
        last = f"v{step}"
    for k, cap in enumerate(spec.captions):
        (work / f"caption{k}.txt").write_text(cap.text, encoding="utf-8")
        step += 1
        chains.append(
            f"[{last}]drawtext=fontfile=font.ttf:textfile=caption{k}.txt:expansion=none:"
            f"fontsize={cap.font_size}:fontcolor=white:box=1:boxcolor=black:"
            f"boxborderw={BOX_BORDER}:x=(w-text_w)/2:y={spec.caption_y(cap)}:"
            f"{enable(cap.start_s, cap.end_s)}[v{step}]"
        )
        last = f"v{step}"
    chains.append(f"[{last}]format=yuv420p[vout]")
    return ";\n".join(chains) + "\n"
