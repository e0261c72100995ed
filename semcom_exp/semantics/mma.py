"""LAM-MSC's MMA (multimodal alignment): modality -> text at the sender, text -> image back.

The paper runs CoDi for every direction. Here each modality picks a backend (``mma.<modality>``):

- ``oracle``: the data set's own text, ``dataset.semantic_text(i)`` (VOC class names,
  LibriSpeech transcripts, UCF101 class words). What the case studies use: it isolates the
  link from captioning errors.
- ``hf``: a Hugging Face model by local folder, or a hub id already in the local HF cache
  (nothing is downloaded at run time; a missing model is a ConfigError saying what to
  download and where to put it):
  - image: a ``VisionEncoderDecoderModel`` captioner (+ its image processor and tokenizer)
    through ``generate`` (transformers 5 has no ``image-to-text`` pipeline);
  - audio: the ``automatic-speech-recognition`` pipeline on numpy audio (no ffmpeg needed),
    resampled to the model's rate, lower-cased like LibriSpeech's semantic text;
  - video: the image captioner on ``frames`` evenly spaced frames (1 = the middle frame),
    distinct captions joined with ``"; "``.

The way back, :class:`TextToImage`, wraps a diffusers ``DiffusionPipeline`` folder
(``mma.text_to_image``): prompt -> uint8 image.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

import numpy as np
from omegaconf import DictConfig

from semcom_exp.data.common import resample
from semcom_exp.errors import ConfigError
from semcom_exp.hub import ModelLookup
from semcom_exp.schema import checked
from semcom_exp.schema.mma import MmaConfig

log = logging.getLogger(__name__)

MODALITIES = ("image", "audio", "video")
JOIN = "; "  # between the captions of a video's frames

# What to download when a model is missing (examples for the error message).
HUB_EXAMPLES = {
    "image": "nlpconnect/vit-gpt2-image-captioning",
    "audio": "facebook/wav2vec2-base-960h",
    "video": "nlpconnect/vit-gpt2-image-captioning",
    "text_to_image": "stable-diffusion-v1-5/stable-diffusion-v1-5",
}


class MMABackend(Protocol):
    """Modality -> text for one sample of a data set."""

    modality: str
    name: str

    def to_text(self, dataset: Any, index: int) -> str: ...


# ------------------------------------------------------------------------------ helpers


def _load(key: str, name: Any, what: str, loader: Callable[[str], Any]) -> Any:
    """``loader(folder)`` for a local folder or a cached hub id (``ModelLookup``), the error
    suggesting a model of this kind and, for a modality, the oracle backend."""
    node = key.rsplit(".", 1)[0]
    oracle = node.split(".")[-1] in MODALITIES
    return ModelLookup(
        key,
        what,
        suggest=HUB_EXAMPLES.get(key.split(".")[1], "ORG/MODEL"),
        otherwise=f"or {node}.backend=oracle for the data set's own text" if oracle else "",
    ).load(name, loader)


def resolve_device(device: Any) -> str:
    """``auto``: cuda when available, else cpu; anything else as given."""
    if device in (None, "auto"):
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return str(device)


def sample_frame_indices(num_frames: int, count: int) -> list[int]:
    """``count`` evenly spaced frame indices (segment centres); 1 -> the middle frame."""
    if num_frames < 1:
        raise ValueError("a video needs at least one frame")
    count = max(1, min(int(count), num_frames))
    return [min(num_frames - 1, int((j + 0.5) * num_frames / count)) for j in range(count)]


def _require(dataset: Any, method: str, modality: str) -> None:
    if not callable(getattr(dataset, method, None)):
        raise ConfigError(
            f"mma.{modality}.backend",
            f"backend=hf for {modality} needs a data set with {method}(); "
            f"{type(dataset).__name__} has none (is this the right data set for {modality}?)",
        )


def _positive_int(key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(key, f"expected a positive integer, got {value!r}")
    return value


# ----------------------------------------------------------------------------- backends
class OracleBackend:
    """The data set's own semantic text (annotations, transcripts, class names)."""

    name = "oracle"

    def __init__(self, modality: str) -> None:
        self.modality = modality

    def to_text(self, dataset: Any, index: int) -> str:
        return dataset.semantic_text(index)


class ImageCaptioner:
    """A VisionEncoderDecoderModel + its image processor + tokenizer: RGB images -> captions."""

    def __init__(
        self,
        model: str,
        key: str,
        max_new_tokens: int = 20,
        num_beams: int = 1,
        device: str = "cpu",
    ) -> None:
        from transformers import AutoImageProcessor, AutoTokenizer, VisionEncoderDecoderModel

        def load(source: str) -> tuple[Any, Any, Any]:
            net = VisionEncoderDecoderModel.from_pretrained(source, local_files_only=True)
            proc = AutoImageProcessor.from_pretrained(source, local_files_only=True)
            tok = AutoTokenizer.from_pretrained(source, local_files_only=True)
            return net, proc, tok

        self.model, self.processor, self.tokenizer = _load(
            key, model, "VisionEncoderDecoder image captioner", load
        )
        self.device = device
        self.model.to(device).eval()
        self.max_new_tokens = _positive_int(key.replace("model", "max_new_tokens"), max_new_tokens)
        self.num_beams = _positive_int(key.replace("model", "num_beams"), num_beams)

    def caption(self, images: Sequence[np.ndarray]) -> list[str]:
        """One caption per (H, W, 3) uint8 RGB image, greedy / beam decoding (deterministic)."""
        import torch

        pixels = self.processor(images=list(images), return_tensors="pt").pixel_values
        with torch.inference_mode():
            ids = self.model.generate(
                pixels.to(self.device),
                max_new_tokens=self.max_new_tokens,
                num_beams=self.num_beams,
                do_sample=False,
            )
        return [t.strip() for t in self.tokenizer.batch_decode(ids, skip_special_tokens=True)]


class HFImageBackend:
    """Image -> caption with a VisionEncoderDecoder captioner."""

    name = "hf"
    modality = "image"

    def __init__(self, captioner: ImageCaptioner) -> None:
        self.captioner = captioner

    def to_text(self, dataset: Any, index: int) -> str:
        _require(dataset, "load_image", self.modality)
        return self.captioner.caption([dataset.load_image(index)])[0]


class HFVideoBackend:
    """Video -> captions of ``frames`` evenly spaced frames, distinct ones joined with ``"; "``."""

    name = "hf"
    modality = "video"

    def __init__(self, captioner: ImageCaptioner, frames: int = 1) -> None:
        self.captioner = captioner
        self.frames = _positive_int("mma.video.frames", frames)

    def to_text(self, dataset: Any, index: int) -> str:
        _require(dataset, "load_video", self.modality)
        video = dataset.load_video(index)
        picks = sample_frame_indices(len(video), self.frames)
        captions = self.captioner.caption([video[j] for j in picks])
        return JOIN.join(dict.fromkeys(c for c in captions if c))  # distinct, in frame order


class HFAudioBackend:
    """Speech -> lower-cased transcript with the transformers ASR pipeline on numpy audio."""

    name = "hf"
    modality = "audio"

    def __init__(
        self,
        model: str,
        key: str = "mma.audio.model",
        chunk_length_s: float | None = None,
        device: str = "cpu",
    ) -> None:
        from transformers import pipeline

        def load(source: str) -> Any:
            return pipeline("automatic-speech-recognition", model=source, device=device)

        self.pipe = _load(key, model, "speech recognition model", load)
        self.rate = int(getattr(self.pipe.feature_extractor, "sampling_rate", 16000))
        self.chunk_length_s = chunk_length_s

    def to_text(self, dataset: Any, index: int) -> str:
        _require(dataset, "load_audio", self.modality)
        audio, sr = dataset.load_audio(index)
        if sr != self.rate:  # the pipeline would need torchaudio to resample
            audio, sr = resample(audio, sr, self.rate), self.rate
        kwargs = {"chunk_length_s": self.chunk_length_s} if self.chunk_length_s else {}
        out = self.pipe({"raw": np.asarray(audio, dtype=np.float32), "sampling_rate": sr}, **kwargs)
        return " ".join(str(out["text"]).lower().split())


# ------------------------------------------------------------------------------ factory
def build_mma(modality: str, mma_cfg: Mapping[str, Any] | DictConfig) -> MMABackend:
    """The backend configured in ``mma_cfg[modality]`` (the ``mma`` node: conf/mma/default.yaml).

    Models load here, once, so a missing one fails before any sample is processed.
    """
    if modality not in MODALITIES:
        raise ValueError(f"unknown modality {modality!r}; use one of {list(MODALITIES)}")
    cfg = checked(MmaConfig, mma_cfg, "mma")  # the schema's defaults and checks
    node, key = cfg[modality], f"mma.{modality}"
    if node.backend == "oracle":
        return OracleBackend(modality)
    device = resolve_device(cfg.device)
    if modality == "audio":
        backend_obj: MMABackend = HFAudioBackend(
            node.model, f"{key}.model", node.chunk_length_s, device
        )
    else:
        captioner = ImageCaptioner(
            node.model, f"{key}.model", node.max_new_tokens, node.num_beams, device
        )
        if modality == "image":
            backend_obj = HFImageBackend(captioner)
        else:
            backend_obj = HFVideoBackend(captioner, node.frames)
    log.info("MMA %s: hf model %s on %s", modality, node.model, device)
    return backend_obj


# --------------------------------------------------------------------- text -> modality
class TextToImage:
    """Prompt -> (H, W, 3) uint8 image with a diffusers ``DiffusionPipeline`` folder.

    Seeded per call (``seed``), so the same prompt gives the same image.
    """

    def __init__(
        self,
        model: str,
        key: str = "mma.text_to_image.model",
        num_inference_steps: int = 25,
        guidance_scale: float = 7.5,
        height: int | None = None,
        width: int | None = None,
        seed: int = 0,
        device: str = "cpu",
    ) -> None:
        from diffusers import DiffusionPipeline

        def load(source: str) -> Any:
            return DiffusionPipeline.from_pretrained(source, local_files_only=True)

        self.pipe = _load(key, model, "diffusers text-to-image pipeline", load).to(device)
        self.pipe.set_progress_bar_config(disable=True)
        base = key.rsplit(".", 1)[0]
        self.steps = _positive_int(f"{base}.num_inference_steps", num_inference_steps)
        self.guidance_scale = float(guidance_scale)
        self.size = {k: v for k, v in (("height", height), ("width", width)) if v is not None}
        self.seed = int(seed)

    def __call__(self, prompt: str) -> np.ndarray:
        import torch

        generator = torch.Generator().manual_seed(self.seed)
        out = self.pipe(
            prompt,
            num_inference_steps=self.steps,
            guidance_scale=self.guidance_scale,
            generator=generator,
            output_type="np",
            **self.size,
        )
        image = np.asarray(out.images[0], dtype=np.float32)
        return (np.clip(image, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def build_text_to_image(mma_cfg: Mapping[str, Any] | DictConfig) -> TextToImage:
    """The receiver's text -> image model from ``mma.text_to_image`` (a diffusers folder)."""
    cfg = checked(MmaConfig, mma_cfg, "mma")
    node = cfg.text_to_image
    return TextToImage(
        node.model,
        "mma.text_to_image.model",
        node.num_inference_steps,
        node.guidance_scale,
        node.height,
        node.width,
        node.seed,
        resolve_device(cfg.device),
    )
