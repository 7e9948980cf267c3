"""DeepSpeech2 model tests on tiny random-init configs, in the transformers ModelTester spirit."""

import copy

import numpy as np
import pytest
import torch
from huggingface_hub.errors import StrictDataclassClassValidationError

from ko_asr import DeepSpeech2Config, DeepSpeech2ForCTC, DeepSpeech2Model

VARIANTS = {
    "bigru-batchnorm": {},
    "bilstm-layernorm": {"rnn_type": "lstm", "rnn_norm": "layer"},
    "unidirectional-lookahead": {"bidirectional": False, "lookahead_context": 3},
    "three-convs": {"conv_channels": (4, 4, 4), "conv_kernel_sizes": ((5, 5), (5, 3), (3, 3)),
                    "conv_strides": ((2, 2), (2, 1), (1, 2))},
}


def tiny(**overrides) -> DeepSpeech2Config:
    return DeepSpeech2Config.from_preset("tiny", **overrides)


def padded_batch(lengths, bins=33, seed=0):
    generator = torch.Generator().manual_seed(seed)
    features = torch.zeros(len(lengths), max(lengths), bins)
    mask = torch.zeros(len(lengths), max(lengths), dtype=torch.long)
    for i, n in enumerate(lengths):
        features[i, :n] = torch.randn(n, bins, generator=generator)
        mask[i, :n] = 1
    return features, mask


@pytest.mark.parametrize("variant", VARIANTS)
def test_shapes(variant):
    config = tiny(**VARIANTS[variant])
    model = DeepSpeech2ForCTC(config).eval()
    features, mask = padded_batch([40, 25])
    out = model(features, attention_mask=mask, output_hidden_states=True)
    frames = model._get_feat_extract_output_lengths(40)
    assert out.logits.shape == (2, frames, config.vocab_size)
    assert len(out.hidden_states) == config.num_hidden_layers + 1
    assert out.hidden_states[-1].shape == (2, frames, config.hidden_size)
    base = DeepSpeech2Model(config).eval()
    assert base(features, attention_mask=mask).last_hidden_state.shape == (2, frames, config.hidden_size)


@pytest.mark.parametrize("preset", ["tiny", "demo", "base"])
def test_length_method_equals_real_logits_length(preset):
    config = DeepSpeech2Config.from_preset(preset, num_hidden_layers=1, hidden_size=8, vocab_size=16)
    model = DeepSpeech2ForCTC(config).eval()
    for frames in [1, 2, 3, 4, 5, 7, 8, 31, 64, 101, 257]:
        with torch.no_grad():
            logits = model(torch.randn(1, frames, config.num_input_features)).logits
        assert logits.shape[1] == model._get_feat_extract_output_lengths(frames)
        assert model._get_feat_extract_output_lengths(torch.tensor([frames])).item() == logits.shape[1]
    # the ratio the pipeline aligns chunks to is the asymptotic slope of that length
    big = model._get_feat_extract_output_lengths(100_000)
    assert abs(100_000 * config.input_hop_length / big - config.inputs_to_logits_ratio) < 1


@pytest.mark.parametrize("variant", VARIANTS)
def test_padding_does_not_change_results(variant):
    model = DeepSpeech2ForCTC(tiny(**VARIANTS[variant])).eval()
    features, mask = padded_batch([57, 23, 8])
    with torch.no_grad():
        batched = model(features, attention_mask=mask).logits
        for i, n in enumerate([57, 23, 8]):
            alone = model(features[i : i + 1, :n]).logits[0]
            torch.testing.assert_close(batched[i, : alone.shape[0]], alone, atol=1e-4, rtol=0)
            # padded frames emit the blank, so argmax decoding of a padded batch is exact
            assert (batched[i, alone.shape[0] :].argmax(-1) == model.config.pad_token_id).all()


@pytest.mark.parametrize("variant", ["bigru-batchnorm", "unidirectional-lookahead"])
def test_padding_costs_no_rnn_compute(variant):
    """Every RNN call sees only still-running utterances; padding computed is bounded by the segment merge."""
    from ko_asr.models.deepspeech2.modeling_deepspeech2 import MIN_SEGMENT_FRAMES

    model = DeepSpeech2ForCTC(tiny(**VARIANTS[variant])).eval()
    layer = model.deepspeech2.layers[0]
    processed = []
    for rnn in filter(None, (layer.rnn, layer.rnn_reverse)):
        rnn.register_forward_hook(lambda module, args, output: processed.append(args[0].shape[0] * args[0].shape[1]))
    lengths = [200, 120, 119, 60, 10]
    features, mask = padded_batch(lengths)
    with torch.no_grad():
        model(features, attention_mask=mask)
    real = model._get_feat_extract_output_lengths(torch.tensor(lengths))
    directions = 2 if layer.rnn_reverse is not None else 1
    padded = directions * len(lengths) * real.max().item()
    assert real.sum().item() * directions <= sum(processed) <= directions * (real.sum().item() + len(lengths) * (MIN_SEGMENT_FRAMES - 1))
    assert sum(processed) < 0.75 * padded


def more_padding(features, mask, frames: int):
    """`(features, attention_mask)` with `frames` more padded frames at the end of every row."""
    batch, _, bins = features.shape
    return (torch.cat([features, torch.zeros(batch, frames, bins)], dim=1),
            torch.cat([mask, torch.zeros(batch, frames, dtype=mask.dtype)], dim=1))


def test_training_batchnorm_statistics_ignore_padding():
    """Every BatchNorm in training mode (the convolutional front end's and the RNNs') normalizes with real frames
    only: extra padding changes neither the outputs nor the running statistics."""
    torch.manual_seed(0)
    model = DeepSpeech2ForCTC(tiny(conv_channels=(2, 2))).train()
    twin = copy.deepcopy(model)
    features, mask = padded_batch([30, 30])
    torch.testing.assert_close(
        model(*more_padding(features, mask, 20)).logits[:, :15], twin(features, attention_mask=mask).logits,
        atol=1e-4, rtol=0,
    )
    for name, buffer in model.named_buffers():
        torch.testing.assert_close(buffer, dict(twin.named_buffers())[name], atol=1e-5, rtol=0, msg=name)
    # utterances of different lengths: padding the batch further changes nothing either
    features, mask = padded_batch([30, 22])
    torch.testing.assert_close(
        model(*more_padding(features, mask, 25)).logits[:, :15], twin(features, attention_mask=mask).logits,
        atol=1e-4, rtol=0,
    )


def test_tiny_model_overfits_one_batch():
    torch.manual_seed(0)
    config = tiny(hidden_size=32, vocab_size=12)
    model = DeepSpeech2ForCTC(config).train()
    features, mask = padded_batch([80, 64, 48], seed=1)
    labels = torch.tensor([[3, 5, 7, 7, 2, 9], [4, 4, 8, 1, -100, -100], [10, 11, 2, -100, -100, -100]])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(150):
        loss = model(features, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0], (losses[0], losses[-1])
    model.eval()
    with torch.no_grad():
        predicted = model(features, attention_mask=mask).logits.argmax(-1)
    # greedy CTC decoding reproduces every label sequence, including the double 7 and double 4
    from itertools import groupby

    for row, label in zip(predicted.tolist(), labels.tolist()):
        collapsed = [token for token, _ in groupby(row) if token != config.pad_token_id]
        assert collapsed == [t for t in label if t >= 0]


def test_save_load_exact(tmp_path):
    model = DeepSpeech2ForCTC(tiny()).eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    again = DeepSpeech2ForCTC.from_pretrained(tmp_path).eval()
    assert again.config.to_diff_dict() | {"_name_or_path": ""} == model.config.to_diff_dict() | {"_name_or_path": ""}
    features, mask = padded_batch([30, 12])
    with torch.no_grad():
        # float rounding of the CPU kernels may differ from run to run; the weights themselves are bit-exact
        torch.testing.assert_close(again(features, attention_mask=mask).logits, model(features, attention_mask=mask).logits, atol=1e-6, rtol=0)
    assert again.state_dict().keys() == model.state_dict().keys()
    for name, buffer in model.state_dict().items():
        torch.testing.assert_close(again.state_dict()[name], buffer, atol=0, rtol=0)


def test_init_covers_recurrent_weights():
    model = DeepSpeech2ForCTC(tiny(rnn_type="lstm"))
    for layer in model.deepspeech2.layers:
        weight_hh = layer.rnn.weight_hh_l0  # (4 * hidden, hidden), orthogonal columns
        assert torch.allclose(weight_hh.T @ weight_hh, torch.eye(16), atol=1e-4)
        assert layer.rnn.bias_ih_l0.abs().max() == 0


def test_labels_are_padded_with_minus_100_and_loss_is_float32_under_bf16_autocast():
    torch.manual_seed(0)
    model = DeepSpeech2ForCTC(tiny()).train()
    features, mask = padded_batch([40, 30])
    labels = torch.tensor([[1, 2, 3], [4, -100, -100]])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(features, attention_mask=mask, labels=labels)
    assert out.logits.dtype == torch.bfloat16
    assert out.loss.dtype == torch.float32 and torch.isfinite(out.loss)
    out.loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    # the float32 loss equals the loss computed from the same logits outside autocast
    ref = model._ctc_loss(out.logits.float(), model._get_feat_extract_output_lengths(mask.sum(-1)), labels)
    torch.testing.assert_close(out.loss, ref)


def test_label_out_of_vocabulary_raises():
    model = DeepSpeech2ForCTC(tiny())
    features, mask = padded_batch([20])
    with pytest.raises(ValueError, match="vocab_size"):
        model(features, attention_mask=mask, labels=torch.tensor([[64]]))


def test_gradient_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    model = DeepSpeech2ForCTC(tiny()).train()
    features, mask = padded_batch([40, 33])
    labels = torch.tensor([[1, 2, 3], [4, 5, -100]])

    def gradients():
        model.zero_grad()
        model(features, attention_mask=mask, labels=labels).loss.backward()
        return {n: p.grad.clone() for n, p in model.named_parameters()}

    plain = gradients()
    model.activation_checkpointing_enable()
    assert all(layer.gradient_checkpointing for layer in model.deepspeech2.layers)
    checkpointed = gradients()
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], atol=1e-6, rtol=1e-5)


def test_spec_augment_only_in_training_and_only_on_real_frames():
    torch.manual_seed(0)
    config = tiny(mask_time_prob=0.5, mask_time_length=4, mask_feature_prob=0.3, mask_feature_length=3)
    model = DeepSpeech2ForCTC(config)
    features, mask = padded_batch([50, 20])
    features = features + 5.0 * mask[..., None]  # real frames are never 0 before masking
    masked = model.deepspeech2._spec_augment(features, mask)
    zeroed = (masked == 0) & (features != 0)
    assert zeroed.any()
    assert not zeroed[1, 20:].any()  # never inside padding
    model.eval()
    with torch.no_grad():
        assert torch.equal(model(features, attention_mask=mask).logits, model(features, attention_mask=mask).logits)

        def must_not_run(*args):
            raise AssertionError("SpecAugment ran in eval mode")

        model.deepspeech2._spec_augment = must_not_run
        model(features, attention_mask=mask)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"rnn_type": "rnn"}, "rnn_type"),
        ({"rnn_norm": "group"}, "rnn_norm"),
        ({"conv_channels": (4,)}, "one entry per convolution"),
        ({"conv_strides": ((2, 2), (2, 0))}, "positive"),
        ({"pad_token_id": 64}, "pad_token_id"),
        ({"mask_time_prob": 1.5}, "mask_time_prob"),
        ({"ctc_loss_reduction": "none"}, "ctc_loss_reduction"),
    ],
)
def test_invalid_configurations_raise(overrides, message):
    with pytest.raises(StrictDataclassClassValidationError, match=message):
        tiny(**overrides)


def test_presets_and_config_round_trip(tmp_path):
    assert DeepSpeech2Config.from_preset("paper").hidden_size == 1024
    base = DeepSpeech2ForCTC(DeepSpeech2Config.from_preset("base"))
    assert 20e6 < sum(p.numel() for p in base.parameters()) < 30e6
    with pytest.raises(ValueError, match="unknown preset"):
        DeepSpeech2Config.from_preset("huge")
    config = DeepSpeech2Config.from_preset("demo", vocab_size=500)
    config.save_pretrained(tmp_path)
    assert DeepSpeech2Config.from_pretrained(tmp_path).to_dict() == config.to_dict()
    assert config.inputs_to_logits_ratio == 160 * 2
    assert np.prod([s[1] for s in config.conv_strides]) == config.time_reduction


@pytest.mark.parametrize("variant", VARIANTS)
def test_generate_is_greedy_ids_with_padding_as_blank_and_the_same_pass_loss(variant):
    config = tiny(**VARIANTS[variant])
    model = DeepSpeech2ForCTC(config).eval()
    features, mask = padded_batch([40, 25, 11])
    labels = torch.tensor([[3, 4, 5], [6, 7, -100], [8, -100, -100]])
    out = model.generate(features, attention_mask=mask, labels=labels, return_dict_in_generate=True)
    reference = model(features, attention_mask=mask, labels=labels)
    lengths = model._get_feat_extract_output_lengths(mask.sum(-1))
    assert out.output_mask.sum(-1).tolist() == lengths.tolist()
    for row, length in enumerate(lengths.tolist()):
        assert out.sequences[row, :length].tolist() == reference.logits[row, :length].argmax(-1).tolist()
        assert (out.sequences[row, length:] == config.pad_token_id).all()
        # each row decodes as it would alone, unpadded
        alone = model.generate(features[row : row + 1, : int(mask[row].sum())])
        assert alone[0].tolist() == out.sequences[row, :length].tolist()
    torch.testing.assert_close(out.loss, reference.loss)
    assert torch.equal(model.generate(features, attention_mask=mask), out.sequences)
    encoder = model.deepspeech2(features, attention_mask=mask)
    assert torch.equal(encoder.output_mask, out.output_mask)


def test_preset_keyword_builds_the_preset_and_explicit_fields_win():
    config = DeepSpeech2Config(preset="tiny")
    assert config == DeepSpeech2Config.from_preset("tiny")
    assert (config.hidden_size, config.input_feature_type, config.vocab_size) == (16, "mel", 64)
    assert sum(p.numel() for p in DeepSpeech2ForCTC(config).parameters()) < 100_000  # not the 67 M default model
    assert "preset" not in config.__dict__ and "preset" not in config.to_dict()  # its fields are stored, not its name
    # rnn_norm="batch" is also the default: an explicit value still beats the preset's "layer"
    demo = DeepSpeech2Config(preset="demo", rnn_norm="batch", vocab_size=500)
    assert (demo.rnn_norm, demo.vocab_size, demo.hidden_size) == ("batch", 500, 256)
    with pytest.raises(ValueError, match=r"unknown preset 'huge'; choose one of \['base', 'demo', 'paper', 'streaming', 'tiny'\]"):
        DeepSpeech2Config(preset="huge")


@pytest.mark.parametrize("key", ["hiden_size", "rope_theta", "num_layers"])
def test_unknown_configuration_keys_raise_and_name_the_fields(key):
    with pytest.raises(TypeError, match=rf"unknown configuration keys \['{key}'\]") as error:
        DeepSpeech2Config(preset="tiny", **{key: 3})
    assert "hidden_size" in str(error.value) and "num_hidden_layers" in str(error.value) and "preset" in str(error.value)


def test_standard_pretrained_config_keys_still_load(tmp_path):
    model = DeepSpeech2ForCTC(tiny())
    model.config.use_cache = False  # what transformers.Trainer sets on every model's config before saving it
    model.save_pretrained(tmp_path)
    saved = DeepSpeech2Config.from_pretrained(tmp_path)
    assert saved.auto_map["AutoModelForCTC"] == "modeling_deepspeech2.DeepSpeech2ForCTC"
    assert DeepSpeech2Config(**saved.to_dict()) == saved  # to_dict adds model_type, _name_or_path, output_attentions
    assert saved.dtype == torch.float32  # save_pretrained writes "dtype"
    config = DeepSpeech2Config.from_pretrained(tmp_path, return_dict=False, output_attentions=True)
    assert (config.return_dict, config.output_attentions) == (False, True)
    legacy = tiny(torch_dtype="float16", id2label={"0": "blank"}, num_labels=1, architectures=["DeepSpeech2ForCTC"])
    assert (legacy.dtype, legacy.id2label) == (torch.float16, {0: "blank"})


def test_config_saved_with_a_stray_preset_still_loads_the_model_it_describes(tmp_path):
    """Configs saved while `preset=` was ignored hold the default model's fields and a stray `preset`: the
    explicit fields still win, so they load the model their weights were saved from."""
    DeepSpeech2Config().save_pretrained(tmp_path)
    path = tmp_path / "config.json"
    path.write_text(path.read_text().replace('"model_type"', '"preset": "tiny",\n  "model_type"'))
    assert DeepSpeech2Config.from_pretrained(tmp_path).hidden_size == 1024


def test_a_saved_config_with_a_key_this_version_does_not_know_still_loads(tmp_path, caplog):
    """A key written by a newer transformers (or set by a user) is kept with a warning when loading, as transformers
    does; only direct construction refuses unknown keys."""
    import json

    DeepSpeech2Config.from_preset("tiny").save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    (tmp_path / "config.json").write_text(json.dumps({**saved, "written_by_a_newer_version": 7}))
    loaded = DeepSpeech2Config.from_pretrained(tmp_path)
    assert loaded.written_by_a_newer_version == 7 and loaded.hidden_size == 16
    assert "written_by_a_newer_version" in caplog.text
    with pytest.raises(TypeError, match="unknown configuration keys"):
        DeepSpeech2Config(written_by_a_newer_version=7)
