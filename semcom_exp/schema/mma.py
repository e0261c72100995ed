"""The ``mma`` group: LAM-MSC's modality -> text at the sender (the paper's CoDi) and text ->
image at the receiver (docs/mma_bits.md).

Per modality, backend: oracle (the data set's own semantic text: VOC class names, LibriSpeech
transcripts, UCF101 class words; what the case studies use) | hf (a Hugging Face model from a
local folder, or a hub id already in the local HF cache; nothing is downloaded at run time).
"""

from __future__ import annotations

from dataclasses import dataclass

from semcom_exp.schema.fields import node, number_in, one_of, optional, positive_int, setting

BACKEND = one_of("oracle", "hf")


@dataclass
class ImageToTextConfig:
    backend: str = setting("oracle", BACKEND)
    # hf: a VisionEncoderDecoder captioner folder, e.g. a download of
    # nlpconnect/vit-gpt2-image-captioning (model + image processor + tokenizer)
    model: str | None = None
    max_new_tokens: int = setting(20, positive_int)
    num_beams: int = setting(1, positive_int)


@dataclass
class AudioToTextConfig:
    backend: str = setting("oracle", BACKEND)
    model: str | None = (
        None  # hf: an ASR folder, e.g. facebook/wav2vec2-base-960h or openai/whisper-tiny
    )
    chunk_length_s: float | None = setting(
        None, optional(number_in(0, open_low=True))
    )  # e.g. 30 for Whisper


@dataclass
class VideoToTextConfig:
    backend: str = setting("oracle", BACKEND)
    model: str | None = None  # hf: an image captioner folder (as image.model), on sampled frames
    # evenly spaced frames captioned (1: the middle one); distinct captions joined by "; "
    frames: int = setting(1, positive_int)
    max_new_tokens: int = setting(20, positive_int)
    num_beams: int = setting(1, positive_int)


@dataclass
class TextToImageConfig:
    """The way back (semcom_exp.semantics.mma.build_text_to_image)."""

    model: str | None = None  # a diffusers DiffusionPipeline folder, e.g. stable-diffusion-v1-5
    num_inference_steps: int = setting(25, positive_int)
    guidance_scale: float = 7.5
    height: int | None = None  # null: the pipeline's default size
    width: int | None = None
    seed: int = 0


@dataclass
class MmaConfig:
    device: str = "auto"  # auto (cuda if available, else cpu) | cpu | cuda | cuda:1 ...
    image: ImageToTextConfig = node(ImageToTextConfig)
    audio: AudioToTextConfig = node(AudioToTextConfig)
    video: VideoToTextConfig = node(VideoToTextConfig)
    text_to_image: TextToImageConfig = node(TextToImageConfig)
