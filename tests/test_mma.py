"""MMA backends: the oracle on the synthetic sets; tiny Hugging Face models built from config,
saved to a folder and loaded BY PATH through the code path a downloaded hub model takes
(outputs are gibberish, the plumbing is real); the offline / missing-model errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from omegaconf import OmegaConf
from PIL import Image

from semcom_exp.cache import ArtifactCache
from semcom_exp.errors import ConfigError
from semcom_exp.schema import option
from semcom_exp.semantics.mma import (
    HFAudioBackend,
    HFImageBackend,
    HFVideoBackend,
    OracleBackend,
    build_mma,
    build_text_to_image,
    sample_frame_indices,
)

from .conftest import REPO, read_json, run_cli

FIXTURES = REPO / "tests" / "fixtures"
CAPTION_CHARS = "abcdefghijklmnopqrstuvwxyz ,"
ASR_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ'"
VOC_CLASSES = {
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
}  # fmt: skip


def _data_cfg(name: str, root: Path | None = None) -> dict:
    cfg = OmegaConf.to_container(option("data", name))
    cfg["root"] = str(root) if root else None
    return cfg


def _open(name: str, root: Path | None, cache: ArtifactCache):
    from semcom_exp.data import open_dataset

    return open_dataset(OmegaConf.create(_data_cfg(name, root)), cache)


def _mma(**per_modality) -> dict:
    cfg = OmegaConf.to_container(option("mma", "default"))
    cfg["device"] = "cpu"
    for modality, node in per_modality.items():
        cfg[modality].update(node)
    return cfg


# ------------------------------------------------------------------ tiny models on disk
@pytest.fixture(scope="module")
def captioner_dir(tmp_path_factory) -> Path:
    """ViT + GPT-2 VisionEncoderDecoder, Pillow ViT processor, character tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        GPT2Config,
        PreTrainedTokenizerFast,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )

    out = tmp_path_factory.mktemp("captioner")
    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2, "<unk>": 3}
    for c in CAPTION_CHARS:
        vocab[c] = len(vocab)
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split("", "isolated")
    backend.decoder = decoders.Fuse()
    tok = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )
    enc = ViTConfig(
        image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=1,
        num_attention_heads=2, intermediate_size=32,
    )  # fmt: skip
    dec = GPT2Config(
        vocab_size=len(vocab), n_positions=32, n_embd=16, n_layer=1, n_head=2,
        bos_token_id=1, eos_token_id=2, pad_token_id=0,
    )  # fmt: skip
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(enc, dec)
    config.decoder_start_token_id, config.pad_token_id, config.eos_token_id = 1, 0, 2
    torch.manual_seed(0)
    model = VisionEncoderDecoderModel(config)
    gen = model.generation_config
    gen.decoder_start_token_id, gen.pad_token_id, gen.eos_token_id = 1, 0, 2
    gen.suppress_tokens = [0, 1, 3]  # random weights: keep the gibberish visible (no specials)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def asr_dir(tmp_path_factory) -> Path:
    """Wav2Vec2ForCTC with a character vocabulary + its feature extractor and CTC tokenizer."""
    from transformers import (
        Wav2Vec2Config,
        Wav2Vec2CTCTokenizer,
        Wav2Vec2FeatureExtractor,
        Wav2Vec2ForCTC,
        Wav2Vec2Processor,
    )

    out = tmp_path_factory.mktemp("asr")
    vocab = {"<pad>": 0, "<unk>": 1, "|": 2}
    for c in ASR_CHARS:
        vocab[c] = len(vocab)
    (out / "vocab.json").write_text(json.dumps(vocab))
    tok = Wav2Vec2CTCTokenizer(
        str(out / "vocab.json"), unk_token="<unk>", pad_token="<pad>", word_delimiter_token="|",
        bos_token=None, eos_token=None,
    )  # fmt: skip
    fe = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=16000, padding_value=0.0)
    config = Wav2Vec2Config(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, conv_dim=(16, 16), conv_stride=(5, 4), conv_kernel=(10, 8),
        num_conv_pos_embeddings=8, num_conv_pos_embedding_groups=2, pad_token_id=0,
        feat_extract_norm="layer", do_stable_layer_norm=True,
    )  # fmt: skip
    torch.manual_seed(0)
    Wav2Vec2ForCTC(config).save_pretrained(out)
    Wav2Vec2Processor(feature_extractor=fe, tokenizer=tok).save_pretrained(out)
    return out


# ------------------------------------------------------------------------------ oracle
def test_oracle_backend_gives_each_synthetic_sets_own_text(tmp_path: Path):
    cache = ArtifactCache(tmp_path / "cache")
    mma = _mma()
    voc = _open("voc2012", None, cache)
    backend = build_mma("image", mma)
    assert isinstance(backend, OracleBackend) and backend.name == "oracle"
    for i in range(3):
        text = backend.to_text(voc, i)
        names = text.split(", ")
        assert names == sorted(o.name for o in voc.objects(i)) and set(names) <= VOC_CLASSES

    libri = _open("librispeech", None, cache)
    texts = [build_mma("audio", mma).to_text(libri, i) for i in range(3)]
    assert texts == [libri.utterances[i].transcript.lower() for i in range(3)]
    assert all(t and t == t.lower() for t in texts)

    ucf = _open("ucf101", None, cache)
    video = build_mma("video", mma)
    for i in (0, len(ucf) - 1):
        assert video.to_text(ucf, i).replace(" ", "") == ucf.class_name(i)


# ----------------------------------------------------------------------------- hf: image
def test_hf_image_captioner_loads_by_path_and_captions_dataset_images(captioner_dir: Path):
    from transformers import AutoImageProcessor, AutoTokenizer, VisionEncoderDecoderModel

    voc = _open("voc2012", FIXTURES / "voc2012", None)
    backend = build_mma("image", _mma(image={"backend": "hf", "model": str(captioner_dir)}))
    assert isinstance(backend, HFImageBackend)
    assert backend.captioner.model.config.encoder.hidden_size == 16  # the tiny model, from disk
    texts = [backend.to_text(voc, i) for i in range(len(voc))]
    assert all(t and set(t) <= set(CAPTION_CHARS) for t in texts), texts
    assert [backend.to_text(voc, i) for i in range(len(voc))] == texts  # deterministic

    # the same caption as running the saved model by hand on the decoded image
    model = VisionEncoderDecoderModel.from_pretrained(captioner_dir).eval()
    proc = AutoImageProcessor.from_pretrained(captioner_dir)
    tok = AutoTokenizer.from_pretrained(captioner_dir)
    pixels = proc(images=[voc.load_image(0)], return_tensors="pt").pixel_values
    ids = model.generate(pixels, max_new_tokens=20, do_sample=False)
    assert tok.batch_decode(ids, skip_special_tokens=True)[0].strip() == texts[0]

    short = build_mma(
        "image", _mma(image={"backend": "hf", "model": str(captioner_dir), "max_new_tokens": 3})
    )
    assert 0 < len(short.to_text(voc, 0)) <= 3


def test_sample_frame_indices():
    assert sample_frame_indices(16, 1) == [8]
    assert sample_frame_indices(16, 4) == [2, 6, 10, 14]
    assert sample_frame_indices(2, 5) == [0, 1]
    with pytest.raises(ValueError):
        sample_frame_indices(0, 1)


def test_hf_video_captions_evenly_spaced_frames(captioner_dir: Path):
    ucf = _open("ucf101", FIXTURES / "ucf101", None)
    backend = build_mma(
        "video", _mma(video={"backend": "hf", "model": str(captioner_dir), "frames": 3})
    )
    assert isinstance(backend, HFVideoBackend)
    seen: list[np.ndarray] = []
    real = backend.captioner.caption

    def spy(images):
        seen.extend(images)
        return real(images)

    backend.captioner.caption = spy
    text = backend.to_text(ucf, 0)
    video = ucf.load_video(0)
    picks = sample_frame_indices(len(video), 3)
    assert len(seen) == 3 and all(
        np.array_equal(a, video[j]) for a, j in zip(seen, picks, strict=True)
    )
    parts = text.split("; ")
    assert 1 <= len(parts) <= 3 and len(set(parts)) == len(parts)
    assert set(text.replace("; ", "")) <= set(CAPTION_CHARS)


# ----------------------------------------------------------------------------- hf: audio
def test_hf_asr_loads_by_path_and_transcribes_flac(asr_dir: Path):
    libri = _open("librispeech", FIXTURES / "librispeech", None)
    backend = build_mma("audio", _mma(audio={"backend": "hf", "model": str(asr_dir)}))
    assert isinstance(backend, HFAudioBackend) and backend.rate == 16000
    assert backend.pipe.model.config.hidden_size == 16
    texts = [backend.to_text(libri, i) for i in range(len(libri))]
    letters = [t.replace("<unk>", "") for t in texts]  # random CTC weights emit <unk> too
    assert all(t and set(t) <= set(ASR_CHARS.lower() + " ") for t in letters), texts
    assert texts == [backend.to_text(libri, i) for i in range(len(libri))]


def test_hf_asr_resamples_to_the_models_rate(asr_dir: Path):
    backend = build_mma("audio", _mma(audio={"backend": "hf", "model": str(asr_dir)}))
    calls = []
    real = backend.pipe

    def spy(inputs, **kw):
        calls.append((len(inputs["raw"]), inputs["sampling_rate"]))
        return real(inputs, **kw)

    backend.pipe = spy

    class EightKHz:
        def load_audio(self, index):
            t = np.arange(8000) / 8000
            return np.sin(2 * np.pi * 220 * t).astype(np.float32), 8000

    backend.to_text(EightKHz(), 0)
    assert calls == [(16000, 16000)]


# ------------------------------------------------------------------------ text -> image
def save_tiny_sd(out: Path) -> Path:
    """A tiny random StableDiffusionPipeline (UNet, VAE, CLIP text encoder + character
    tokenizer, DDIM) built from configs and saved to ``out/sd``: 16 x 16 images in 2 steps."""
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    chars = "abcdefghijklmnopqrstuvwxyz,.'"
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab.update({"<|startoftext|>": len(vocab), "<|endoftext|>": len(vocab) + 1})
    (out / "vocab.json").write_text(json.dumps(vocab))
    (out / "merges.txt").write_text("#version: 0.2\n")
    tok = CLIPTokenizer(str(out / "vocab.json"), str(out / "merges.txt"), model_max_length=16)
    torch.manual_seed(0)
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(vocab), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
            num_attention_heads=2, max_position_embeddings=16, projection_dim=16,
            bos_token_id=vocab["<|startoftext|>"], eos_token_id=vocab["<|endoftext|>"],
            pad_token_id=vocab["<|endoftext|>"],
        )
    )  # fmt: skip
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, block_out_channels=(16, 32),
        layers_per_block=1, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16,
        attention_head_dim=2, norm_num_groups=8,
    )  # fmt: skip
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        norm_num_groups=8, sample_size=16,
    )  # fmt: skip
    StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tok, unet=unet,
        scheduler=DDIMScheduler(clip_sample=False, steps_offset=1), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False,
    ).save_pretrained(out / "sd")  # fmt: skip
    return out / "sd"


#: mma.text_to_image settings for the tiny pipeline
TINY_SD = {"num_inference_steps": 2, "height": 16, "width": 16}


@pytest.fixture(scope="module")
def tiny_sd_dir(tmp_path_factory) -> Path:
    return save_tiny_sd(tmp_path_factory.mktemp("tiny_sd"))


def test_text_to_image_with_a_tiny_diffusers_pipeline(tiny_sd_dir: Path):
    mma = _mma()
    mma["text_to_image"].update({"model": str(tiny_sd_dir), **TINY_SD})
    t2i = build_text_to_image(mma)
    a = t2i("a dog on a hill")
    assert a.shape == (16, 16, 3) and a.dtype == np.uint8
    assert np.array_equal(a, t2i("a dog on a hill"))  # seeded per call
    assert not np.array_equal(a, t2i("three people, bus"))  # the prompt conditions the image


# ------------------------------------------------------------------------------ errors
def test_missing_local_model_says_what_to_download_and_where(tmp_path: Path):
    missing = tmp_path / "no" / "such" / "model"
    with pytest.raises(ConfigError) as err:
        build_mma("image", _mma(image={"backend": "hf", "model": str(missing)}))
    msg = str(err.value)
    assert err.value.key == "mma.image.model" and "does not exist" in msg
    assert "huggingface-cli download nlpconnect/vit-gpt2-image-captioning" in msg

    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError) as err:
        build_mma("audio", _mma(audio={"backend": "hf", "model": str(tmp_path / "empty")}))
    assert err.value.key == "mma.audio.model" and "not a loadable" in str(err.value)

    mma = _mma()
    mma["text_to_image"]["model"] = str(missing)
    with pytest.raises(ConfigError) as err:
        build_text_to_image(mma)
    assert err.value.key == "mma.text_to_image.model"


def test_hub_id_not_in_cache_fails_offline_naming_it(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    name = "semcom-test-org/not-a-real-captioner"
    with pytest.raises(ConfigError) as err:
        build_mma("video", _mma(video={"backend": "hf", "model": name}))
    msg = str(err.value)
    assert err.value.key == "mma.video.model" and "not in the local Hugging Face cache" in msg
    assert f"huggingface-cli download {name} --local-dir DIR" in msg


@pytest.mark.parametrize(
    "modality,node,key",
    [
        ("image", {"backend": "hf", "model": None}, "mma.image.model"),
        ("audio", {"backend": "whisper"}, "mma.audio.backend"),
    ],
)
def test_bad_backend_config_names_the_key(modality, node, key):
    with pytest.raises(ConfigError) as err:
        build_mma(modality, _mma(**{modality: node}))
    assert err.value.key == key


def test_bits_pipeline_runs_the_hf_captioner(tmp_path: Path, captioner_dir: Path):
    from hydra import compose, initialize_config_dir

    from semcom_exp.experiments.lam_msc import bits
    from semcom_exp.runner import RunContext

    with initialize_config_dir(config_dir=str(REPO / "semcom_exp" / "conf"), version_base="1.3"):
        cfg = compose(
            "config",
            overrides=[
                "experiment=lam_msc/bits",
                "bits.modalities=[image]",
                f"bits.data.image.root={FIXTURES / 'voc2012'}",
                "mma.image.backend=hf",
                f"mma.image.model={captioner_dir}",
                "mma.device=cpu",
            ],
        )
    out = bits.run(cfg, RunContext(run_dir=tmp_path, cache=ArtifactCache(tmp_path / "cache")))
    assert out.summary["mma_image"] == "hf" and len(out.rows) == 3
    for row in out.rows:
        assert row["text"] and set(row["text"]) <= set(CAPTION_CHARS)
        assert row["text_bits"] == 8 * len(row["text"].encode())


def test_end2end_runs_the_hf_captioner_on_real_format_images(
    tmp_path: Path, captioner_dir: Path, tiny_sd_dir: Path
):
    """The hf backend through the whole chain: its captions are what the link carries; the
    receiver maps the recovered texts back to images (end2end.recover.image, a tiny random
    pipeline) and the same captioner reads them back."""
    proc = run_cli(
        "experiment=lam_msc/end2end",
        "debug=default",
        "end2end.modalities=[image]",
        f"end2end.data.image.root={FIXTURES / 'voc2012'}",
        "end2end.variants=[full,no_lkb,conventional]",
        "end2end.channel=awgn",
        "mma.image.backend=hf",
        f"mma.image.model={captioner_dir}",
        "mma.device=cpu",
        f"end2end.recover.image={tiny_sd_dir}",
        "end2end.recover.variant=no_lkb",
        *(f"mma.text_to_image.{k}={v}" for k, v in TINY_SD.items()),
        tmp=tmp_path,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = read_json(tmp_path / "run" / "results.json")
    assert summary["mma_image"] == "hf" and summary["image_num_test"] >= 1
    examples = pd.read_csv(tmp_path / "run" / "examples.csv", keep_default_na=False)
    plain = examples[examples["variant"] == "no_lkb"]
    voc = _open("voc2012", FIXTURES / "voc2012", ArtifactCache(tmp_path / "c2"))
    oracle = {voc.semantic_text(i) for i in range(len(voc))}
    assert set("".join(plain["original"])) <= set(CAPTION_CHARS)
    assert not set(plain["original"]) & oracle  # the captions were sent, not the class names

    # receiver-side recovery: the no_lkb texts at the highest SNR (20 dB), as images, read back
    run = tmp_path / "run"
    table = pd.read_csv(run / "recovered" / "recovery.csv", keep_default_na=False)
    n = summary["recover_image_examples"]
    assert len(table) == n == min(4, summary["image_num_test"]) and n >= 2
    at_20 = examples[(examples["variant"] == "no_lkb") & (examples["snr_db"] == 20)]
    assert list(table["recovered_text"][:3]) == list(at_20["recovered"][: len(table)][:3])
    assert list(table["mma_text"]) == list(table["sent"])  # no_lkb sends the MMA text
    for _, row in table.iterrows():
        image = np.asarray(Image.open(run / row["file"]))
        assert image.shape == (16, 16, 3)  # generated by the tiny pipeline
        assert np.asarray(Image.open(run / row["original_file"])).shape[2] == 3
        assert set(row["round_trip_text"]) <= set(CAPTION_CHARS)
        assert -1.0 - 1e-5 <= row["cosine_round_trip"] <= 1.0 + 1e-5
    assert summary["recover_image"] == f"ok: {tiny_sd_dir}"
    assert summary["recover_image_round_trip"] == "scored"
    for key in ("accuracy", "accuracy_shuffled"):  # the round trip with its chance level
        assert 0.0 <= summary[f"recover_image_round_trip_{key}"] <= 1.0
    cosines = table["cosine_round_trip"].astype(float)
    assert summary["recover_image_round_trip_cosine_mean"] == pytest.approx(cosines.mean())
    assert "recover_image_original_caption_cosine_mean" in summary
    assert (run / "figures" / "end2end_recovered_images.png").exists()
