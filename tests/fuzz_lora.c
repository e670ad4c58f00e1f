/* fuzz_lora.c: libFuzzer target for LoRA files: the input is a safetensors file whose keys and
 * shapes are checked against the dev fixture transformer (loaded once), with no adapter config and
 * with the PEFT fixture's. Loading either fails with an SdError naming the file or maps every
 * layer inside the transformer's linears, and frees every backend buffer it took. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend.h"
#include "flux.h"
#include "lora.h"
#include "safetensors.h"
#include "scaledit.h"

int LLVMFuzzerInitialize (int *argc, char ***argv);
int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static SdBackend *backend;
static SdFlux *flux;
static SdLoraConfig *peft_config;

static void
require (gboolean ok)
{
  if (!ok)
    abort ();
}

/* The fixture under $SCALEDIT_TEST_DATA, or exit naming what is missing. */
static char *
fixture (const char *relative)
{
  const char *root = g_getenv ("SCALEDIT_TEST_DATA");
  if (!root)
    {
      fprintf (stderr, "fuzz_lora: set SCALEDIT_TEST_DATA to tests/data\n");
      exit (2);
    }
  return g_build_filename (root, relative, NULL);
}

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
  char *config = fixture ("flux/dev/transformer/config.json");
  char *weights = fixture ("flux/dev/transformer/diffusion_pytorch_model.safetensors");
  char *adapter = fixture ("lora/peft/adapter_config.json");
  GError *error = NULL;
  SdTensorFile *tf = NULL;
  SdFluxConfig cfg;

  backend = sd_backend_cpu_new ();
  if (!sd_flux_config_from_json (config, &cfg, &error) || !(tf = sd_tensors_open (weights, &error))
      || !(flux = sd_flux_load (backend, tf, &cfg, &error)) || !(peft_config = sd_lora_config_load (adapter, &error)))
    {
      fprintf (stderr, "fuzz_lora: %s\n", error->message);
      exit (2);
    }
  sd_tensors_close (tf);
  g_free (config);
  g_free (weights);
  g_free (adapter);
  return 0;
}

static void
load (SdTensorFile *tf, const SdLoraConfig *config)
{
  const SdFluxConfig *c = sd_flux_config (flux);
  gsize before = backend->bytes_in_use;
  GError *error = NULL;
  SdLora *lora = sd_lora_from_tensors (flux, tf, config, &error);

  if (!lora)
    {
      require (error && error->domain == SD_ERROR && g_str_has_prefix (error->message, "fuzz"));
      g_error_free (error);
    }
  else
    {
      require (!error && sd_lora_count (lora) > 0);
      require (sd_lora_max_rank (lora) >= 1 && sd_lora_max_rank (lora) <= SD_LORA_MAX_RANK);
      require (sd_lora_max_out (lora) >= 1 && sd_lora_max_out (lora) <= 3 * c->hidden + c->mlp_hidden);
      sd_lora_free (lora);
    }
  require (backend->bytes_in_use == before);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *error = NULL;
  SdTensorFile *tf = sd_tensors_parse ("fuzz", data, size, &error);

  if (!tf)
    {
      require (error && error->domain == SD_ERROR);
      g_error_free (error);
      return 0;
    }
  load (tf, NULL);
  load (tf, peft_config);
  sd_tensors_close (tf);
  return 0;
}
