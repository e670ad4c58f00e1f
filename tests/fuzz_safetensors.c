/* fuzz_safetensors.c: libFuzzer target for the safetensors header parser (sd_tensors_parse): any
 * input either fails with a GError or yields tensors that lie inside the input and convert. */
#include <stdint.h>
#include <stdlib.h>

#include "safetensors.h"
#include "scaledit.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  GError *error = NULL;
  SdTensorFile *tf = sd_tensors_parse ("fuzz", data, size, &error);
  guint i;

  if (!tf)
    {
      if (!error || error->domain != SD_ERROR || !g_str_has_prefix (error->message, "fuzz: "))
        abort ();
      g_error_free (error);
      return 0;
    }
  if (error)
    abort ();
  sd_tensors_metadata (tf, "format");
  for (i = 0; i < sd_tensors_count (tf); i++)
    {
      const SdTensorInfo *t = sd_tensors_nth (tf, i);
      float *f;

      if (sd_tensors_find (tf, t->name) != t || t->data < data || t->n_bytes > size
          || (gsize) (t->data - data) > size - t->n_bytes)
        abort ();
      if (t->n_elements > (1u << 20))
        continue;
      f = sd_tensor_to_f32 (t, &error);
      if (f)
        g_free (f);
      else
        g_clear_error (&error);
    }
  sd_tensors_close (tf);
  return 0;
}
