"""architecture.py: scaledit-tiny's component configurations (VAE, CLIP, T5, FLUX transformer,
scheduler) and the constructors the training stages and the export share."""
import json
import os

SCHEDULER = dict(base_image_seq_len=256, base_shift=0.5, max_image_seq_len=4096, max_shift=1.15,
                 num_train_timesteps=1000, shift=3.0, use_dynamic_shifting=True)
TEXT_WIDTH = 128      # T5 d_model = the transformer's joint_attention_dim
POOLED_WIDTH = 128    # CLIP hidden size = the transformer's pooled_projection_dim
CLIP_LENGTH = 77


def vae():
    from diffusers import AutoencoderKL
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=16, block_out_channels=(32, 64, 96, 96),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        layers_per_block=1, norm_num_groups=32, mid_block_add_attention=False,
        use_quant_conv=False, use_post_quant_conv=False, scaling_factor=1.0, shift_factor=0.0)


def clip(vocab_size, eos_token_id):
    from transformers import CLIPTextConfig, CLIPTextModel
    return CLIPTextModel(CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=POOLED_WIDTH, intermediate_size=4 * POOLED_WIDTH,
        num_hidden_layers=2, num_attention_heads=2, max_position_embeddings=CLIP_LENGTH,
        hidden_act="quick_gelu", bos_token_id=eos_token_id - 1, eos_token_id=eos_token_id,
        pad_token_id=eos_token_id))


def t5(vocab_size):
    from transformers import T5Config, T5EncoderModel
    return T5EncoderModel(T5Config(
        vocab_size=vocab_size, d_model=TEXT_WIDTH, d_kv=32, d_ff=2 * TEXT_WIDTH, num_layers=2,
        num_heads=4, relative_attention_num_buckets=32, relative_attention_max_distance=128,
        feed_forward_proj="gated-gelu", is_encoder_decoder=False, dropout_rate=0.0))


def transformer():
    from diffusers import FluxTransformer2DModel
    return FluxTransformer2DModel(
        patch_size=1, in_channels=64, num_layers=3, num_single_layers=5, attention_head_dim=64,
        num_attention_heads=3, joint_attention_dim=TEXT_WIDTH, pooled_projection_dim=POOLED_WIDTH,
        guidance_embeds=False, axes_dims_rope=(8, 28, 28))


def tokenizer_sizes(model_dir):
    """(CLIP vocab size, CLIP end-of-text id, T5 vocab size) of the tokenizers in model_dir."""
    with open(os.path.join(model_dir, "tokenizer", "vocab.json"), encoding="utf-8") as f:
        vocab = json.load(f)
    with open(os.path.join(model_dir, "tokenizer_2", "tokenizer.json"), encoding="utf-8") as f:
        t5_vocab = len(json.load(f)["model"]["vocab"])
    return len(vocab), vocab["<|endoftext|>"], t5_vocab


def t5_length(model_dir):
    with open(os.path.join(model_dir, "tokenizer_2", "tokenizer_config.json"), encoding="utf-8") as f:
        return json.load(f)["model_max_length"]
