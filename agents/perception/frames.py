"""The frames tool: which frames to look at, what each shows (faces, expression, light, motion), captions.

Frames are sampled uniformly (``n_frames``), and a denser candidate grid is searched for the moments where
a face's expression is strongest (``peak_frames`` more), because a brief smile between two uniform samples
is exactly the evidence a frames agent should not miss. All candidate frames go through the face and
expression models in one batch. With an OpenCLIP backend configured, each kept frame is also ranked against
a descriptor vocabulary (and captioned by CoCa models).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from saboteur.agents.perception.expressions import FaceReading, read_expressions
from saboteur.media import Frame, Media, uniform_times

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from saboteur.agents.perception.clip_backend import ClipBackend

VERSION = "1"
"""Part of every cached frames result's key: bump when the output changes."""

MAX_CANDIDATES = 32
PEAK_MIN_STRENGTH = 0.4
PEAK_MARGIN = 0.05
"""A peak frame must show an expression this much stronger than every uniform frame does."""


def image_stats(images: list[NDArray[np.uint8]]) -> list[dict[str, float]]:
    """Per frame: brightness and contrast (luma mean/std in [0, 1]), colourfulness (Hasler-Suesstrunk,
    /100), sharpness (variance of the Laplacian of luma, log10) and motion (mean absolute luma change
    from the previous frame in the list, on a 64-px thumbnail, in [0, 1])."""
    import cv2

    stats: list[dict[str, float]] = []
    previous: NDArray[np.float32] | None = None
    for image in images:
        rgb = image.astype(np.float32)
        luma = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        rg = rgb[..., 0] - rgb[..., 1]
        yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
        colour = float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))
        sharp = float(cv2.Laplacian(luma, cv2.CV_32F).var())
        thumb = cv2.resize(
            luma, (64, max(1, round(64 * luma.shape[0] / luma.shape[1]))), interpolation=cv2.INTER_AREA
        )
        motion = (
            float(np.mean(np.abs(thumb - previous)))
            if previous is not None and previous.shape == thumb.shape
            else 0.0
        )
        previous = thumb.astype(np.float32)
        stats.append(
            {
                "brightness": round(float(luma.mean()), 4),
                "contrast": round(float(luma.std()), 4),
                "colorfulness": round(colour / 100.0, 4),
                "sharpness_log10": round(float(np.log10(sharp + 1e-9)), 3),
                "motion": round(motion, 4),
            }
        )
    return stats


def caption(
    reading: FaceReading, stats: dict[str, float], clip: dict[str, list[dict[str, Any]]] | None = None
) -> str:
    """One line describing a frame, e.g. 'one face, looks happy (0.99); bright, still'."""
    parts: list[str] = []
    n = len(reading.faces)
    if n and reading.probs:
        ranked = sorted(reading.probs.items(), key=lambda kv: -kv[1])
        top, p = ranked[0]
        face = f"{'one face' if n == 1 else f'{n} faces, the largest'} looks {top} ({p:.2f})"
        if len(ranked) > 1 and ranked[1][1] >= 0.2:
            face += f", some {ranked[1][0]} ({ranked[1][1]:.2f})"
        parts.append(face)
    else:
        parts.append("no face visible")
    light = (
        "dark" if stats["brightness"] < 0.25 else "bright" if stats["brightness"] > 0.7 else "normally lit"
    )
    if stats["contrast"] < 0.08:
        light += ", low contrast"
    if stats["sharpness_log10"] < -3.5:
        light += ", blurry"
    motion = stats["motion"]
    light += ", still" if motion < 0.02 else ", some motion" if motion < 0.08 else ", strong motion"
    parts.append(light)
    if clip:
        for group, ranked_terms in clip.items():
            if ranked_terms:
                parts.append(f"{group}: {ranked_terms[0]['term']} ({ranked_terms[0]['score']:.2f})")
    return "; ".join(parts)


def _select(
    frames: list[Frame], readings: list[FaceReading], uniform: list[float], peaks: int
) -> list[tuple[int, bool]]:
    """Indices of the frames to keep: nearest to each uniform time, plus the strongest expressions."""
    times = np.array([f.t for f in frames])
    kept: dict[int, bool] = {}
    for t in uniform:
        kept.setdefault(int(np.argmin(np.abs(times - t))), False)
    floor = max([PEAK_MIN_STRENGTH] + [readings[i].strength + PEAK_MARGIN for i in kept])
    order = sorted(range(len(frames)), key=lambda i: -readings[i].strength)
    added = 0
    for i in order:
        if added >= peaks or readings[i].strength < floor:
            break
        if i not in kept:
            kept[i] = True
            added += 1
    return sorted(kept.items())


def describe_frames(
    media: Media,
    n_frames: int = 8,
    peak_frames: int = 2,
    max_side: int = 640,
    clip: ClipBackend | None = None,
    ocr: bool = False,
) -> dict[str, Any]:
    """The ``frames`` features of the Evidence contract: {captions, expressions, stats} (+ text, quality).

    With ``ocr``, the kept frames are also read for on-screen text (``text_on_screen``).
    """
    info = media.info
    uniform = uniform_times(info.duration_s, n_frames)
    grid = uniform
    if info.kind != "image" and info.duration_s and peak_frames > 0:
        dense = min(MAX_CANDIDATES, max(3 * n_frames, int(info.duration_s * 2)))
        grid = sorted(set(uniform) | set(uniform_times(info.duration_s, dense)))
    frames = media.frames(grid, max_side=max_side)
    images = [f.image for f in frames]
    readings = read_expressions(images)
    stats = image_stats(images)
    chosen = _select(frames, readings, uniform, peak_frames)
    kept_images = [images[i] for i, _ in chosen]
    ranked = clip.rank(kept_images) if clip is not None else [None] * len(chosen)
    clip_captions = clip.caption(kept_images) if clip is not None and clip.can_caption else [""] * len(chosen)
    on_screen: list[dict[str, Any]] = []
    if ocr:
        from saboteur.agents.perception.ocr import read_text

        on_screen = read_text(kept_images, [round(frames[i].t, 3) for i, _ in chosen])
    captions, expressions, clip_rows = [], [], []
    for (i, peak), rank, coca in zip(chosen, ranked, clip_captions, strict=True):
        t = round(frames[i].t, 3)
        text = caption(readings[i], stats[i], rank)
        if coca:
            text = f"{coca}; {text}"
        if shown := [row["text"] for row in on_screen if row["t"] == t]:
            text += "; text on screen: " + " | ".join(f'"{line}"' for line in shown)
        captions.append({"t": t, "caption": text, "peak": peak})
        expressions.append(
            {
                "t": t,
                "face_found": readings[i].face_found,
                "n_faces": len(readings[i].faces),
                "probs": readings[i].probs,
                "peak": peak,
            }
        )
        if rank is not None:
            clip_rows.append({"t": t, "ranking": rank, "caption": coca})
    summary = _summary(expressions, [stats[i] for i, _ in chosen], info)
    features: dict[str, Any] = {"captions": captions, "expressions": expressions, "stats": summary}
    if clip is not None:
        features["clip"] = {"model": clip.spec.model, "pretrained": clip.spec.pretrained, "frames": clip_rows}
    if ocr:
        features["text_on_screen"] = on_screen
    features["text"] = _text(captions, summary)
    features["quality"] = _quality(expressions)
    return features


def _summary(expressions: list[dict[str, Any]], stats: list[dict[str, float]], info: Any) -> dict[str, Any]:
    faces = [e for e in expressions if e["face_found"] and e["probs"]]
    tops = [max(e["probs"].items(), key=lambda kv: kv[1]) for e in faces]
    counts: dict[str, int] = {}
    for label, _ in tops:
        counts[label] = counts.get(label, 0) + 1
    strongest = max(
        ((label, p, e["t"]) for e, (label, p) in zip(faces, tops, strict=True) if label != "neutral"),
        key=lambda x: x[1],
        default=None,
    )
    return {
        "n_frames": len(expressions),
        "face_fraction": round(len(faces) / max(1, len(expressions)), 3),
        "dominant_expression": max(counts, key=lambda k: counts[k]) if counts else None,
        "expression_counts": counts,
        "strongest_expression": {"label": strongest[0], "p": strongest[1], "t": strongest[2]}
        if strongest
        else None,
        "mean_expression": {
            k: round(float(np.mean([e["probs"][k] for e in faces])), 4)
            for k in (faces[0]["probs"] if faces else {})
        },
        **{f"{k}_mean": round(float(np.mean([s[k] for s in stats])), 4) for k in (stats[0] if stats else {})},
        "width": info.width,
        "height": info.height,
        "fps": info.fps,
        "duration_s": info.duration_s,
    }


def _text(captions: list[dict[str, Any]], summary: dict[str, Any]) -> str:
    lines = [
        f"t={c['t']:.1f} s{' (expression peak)' if c.get('peak') else ''}: {c['caption']}" for c in captions
    ]
    if summary["dominant_expression"]:
        faces = sum(summary["expression_counts"].values())
        dominant = summary["dominant_expression"]
        count = summary["expression_counts"][dominant]
        head = f"dominant expression: {dominant} in {count}/{faces} frames with a face"
        if summary["strongest_expression"]:
            s = summary["strongest_expression"]
            head += f"; strongest: {s['label']} {s['p']:.2f} at {s['t']:.1f} s"
    else:
        head = "no face found in the sampled frames"
    return "\n".join([head, *lines])


def _quality(expressions: list[dict[str, Any]]) -> float:
    """Share of frames with a face x mean confidence of their top expression.

    The floor is 0.1, not 0: frames without a face still show the scene, light and motion.
    """
    faces = [e for e in expressions if e["face_found"] and e["probs"]]
    if not faces:
        return 0.1
    confidence = float(np.mean([max(e["probs"].values()) for e in faces]))
    return round(max(0.1, len(faces) / len(expressions) * confidence), 4)
