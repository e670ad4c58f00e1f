/* unicode_text.c: White_Space and extended grapheme cluster boundaries (UAX #29, the rules of
 * Unicode 15.0 as the Rust unicode-segmentation crate applies them), on GLib's character data. */
#include "unicode_text.h"

typedef struct {
  gunichar lo, hi;
} Range;

typedef enum {
  GCB_OTHER,
  GCB_CR,
  GCB_LF,
  GCB_CONTROL,
  GCB_EXTEND,
  GCB_ZWJ,
  GCB_REGIONAL_INDICATOR,
  GCB_PREPEND,
  GCB_SPACING_MARK,
  GCB_L,
  GCB_V,
  GCB_T,
  GCB_LV,
  GCB_LVT,
} Gcb;

/* Other_Grapheme_Extend (PropList.txt) and the emoji modifiers: Extend beyond Mn and Me. */
static const Range extend_extra[] = {
  { 0x09BE, 0x09BE }, { 0x09D7, 0x09D7 }, { 0x0B3E, 0x0B3E }, { 0x0B57, 0x0B57 },
  { 0x0BBE, 0x0BBE }, { 0x0BD7, 0x0BD7 }, { 0x0CC2, 0x0CC2 }, { 0x0CD5, 0x0CD6 },
  { 0x0D3E, 0x0D3E }, { 0x0D57, 0x0D57 }, { 0x0DCF, 0x0DCF }, { 0x0DDF, 0x0DDF },
  { 0x1B35, 0x1B35 }, { 0x200C, 0x200C }, { 0x302E, 0x302F }, { 0xFF9E, 0xFF9F },
  { 0x1133E, 0x1133E }, { 0x11357, 0x11357 }, { 0x114B0, 0x114B0 }, { 0x114BD, 0x114BD },
  { 0x115AF, 0x115AF }, { 0x11930, 0x11930 }, { 0x1D165, 0x1D165 }, { 0x1D16E, 0x1D172 },
  { 0x1F3FB, 0x1F3FF }, { 0xE0020, 0xE007F },
};

/* Spacing marks (Mc) that are not Grapheme_Cluster_Break=SpacingMark. */
static const Range spacing_mark_exceptions[] = {
  { 0x102B, 0x102C }, { 0x1038, 0x1038 }, { 0x1062, 0x1064 }, { 0x1067, 0x106D },
  { 0x1083, 0x1083 }, { 0x1087, 0x108C }, { 0x108F, 0x108F }, { 0x109A, 0x109C },
  { 0x1A61, 0x1A61 }, { 0x1A63, 0x1A64 }, { 0xAA7B, 0xAA7B }, { 0xAA7D, 0xAA7D },
  { 0x11720, 0x11721 },
};

/* Grapheme_Cluster_Break=Prepend. */
static const Range prepend[] = {
  { 0x0600, 0x0605 }, { 0x06DD, 0x06DD }, { 0x070F, 0x070F }, { 0x0890, 0x0891 },
  { 0x08E2, 0x08E2 }, { 0x0D4E, 0x0D4E }, { 0x110BD, 0x110BD }, { 0x110CD, 0x110CD },
  { 0x111C2, 0x111C3 }, { 0x1193F, 0x1193F }, { 0x11941, 0x11941 }, { 0x11A3A, 0x11A3A },
  { 0x11A84, 0x11A89 }, { 0x11D46, 0x11D46 }, { 0x11F02, 0x11F02 },
};

/* Extended_Pictographic (emoji-data.txt). */
static const Range pictographic[] = {
  { 0x00A9, 0x00A9 }, { 0x00AE, 0x00AE }, { 0x203C, 0x203C }, { 0x2049, 0x2049 },
  { 0x2122, 0x2122 }, { 0x2139, 0x2139 }, { 0x2194, 0x2199 }, { 0x21A9, 0x21AA },
  { 0x231A, 0x231B }, { 0x2328, 0x2328 }, { 0x23CF, 0x23CF }, { 0x23E9, 0x23F3 },
  { 0x23F8, 0x23FA }, { 0x24C2, 0x24C2 }, { 0x25AA, 0x25AB }, { 0x25B6, 0x25B6 },
  { 0x25C0, 0x25C0 }, { 0x25FB, 0x25FE }, { 0x2600, 0x2604 }, { 0x260E, 0x260E },
  { 0x2611, 0x2611 }, { 0x2614, 0x2615 }, { 0x2618, 0x2618 }, { 0x261D, 0x261D },
  { 0x2620, 0x2620 }, { 0x2622, 0x2623 }, { 0x2626, 0x2626 }, { 0x262A, 0x262A },
  { 0x262E, 0x262F }, { 0x2638, 0x263A }, { 0x2640, 0x2640 }, { 0x2642, 0x2642 },
  { 0x2648, 0x2653 }, { 0x265F, 0x2660 }, { 0x2663, 0x2663 }, { 0x2665, 0x2666 },
  { 0x2668, 0x2668 }, { 0x267B, 0x267B }, { 0x267E, 0x267F }, { 0x2692, 0x2697 },
  { 0x2699, 0x2699 }, { 0x269B, 0x269C }, { 0x26A0, 0x26A1 }, { 0x26A7, 0x26A7 },
  { 0x26AA, 0x26AB }, { 0x26B0, 0x26B1 }, { 0x26BD, 0x26BE }, { 0x26C4, 0x26C5 },
  { 0x26C8, 0x26C8 }, { 0x26CE, 0x26CF }, { 0x26D1, 0x26D1 }, { 0x26D3, 0x26D4 },
  { 0x26E9, 0x26EA }, { 0x26F0, 0x26F5 }, { 0x26F7, 0x26FA }, { 0x26FD, 0x26FD },
  { 0x2702, 0x2702 }, { 0x2705, 0x2705 }, { 0x2708, 0x270D }, { 0x270F, 0x270F },
  { 0x2712, 0x2712 }, { 0x2714, 0x2714 }, { 0x2716, 0x2716 }, { 0x271D, 0x271D },
  { 0x2721, 0x2721 }, { 0x2728, 0x2728 }, { 0x2733, 0x2734 }, { 0x2744, 0x2744 },
  { 0x2747, 0x2747 }, { 0x274C, 0x274C }, { 0x274E, 0x274E }, { 0x2753, 0x2755 },
  { 0x2757, 0x2757 }, { 0x2763, 0x2764 }, { 0x2795, 0x2797 }, { 0x27A1, 0x27A1 },
  { 0x27B0, 0x27B0 }, { 0x27BF, 0x27BF }, { 0x2934, 0x2935 }, { 0x2B05, 0x2B07 },
  { 0x2B1B, 0x2B1C }, { 0x2B50, 0x2B50 }, { 0x2B55, 0x2B55 }, { 0x3030, 0x3030 },
  { 0x303D, 0x303D }, { 0x3297, 0x3297 }, { 0x3299, 0x3299 }, { 0x1F004, 0x1F004 },
  { 0x1F02C, 0x1F02F }, { 0x1F094, 0x1F09F }, { 0x1F0AF, 0x1F0B0 }, { 0x1F0C0, 0x1F0C0 },
  { 0x1F0CF, 0x1F0D0 }, { 0x1F0F6, 0x1F0FF }, { 0x1F170, 0x1F171 }, { 0x1F17E, 0x1F17F },
  { 0x1F18E, 0x1F18E }, { 0x1F191, 0x1F19A }, { 0x1F1AE, 0x1F1E5 }, { 0x1F201, 0x1F20F },
  { 0x1F21A, 0x1F21A }, { 0x1F22F, 0x1F22F }, { 0x1F232, 0x1F23A }, { 0x1F23C, 0x1F23F },
  { 0x1F249, 0x1F25F }, { 0x1F266, 0x1F321 }, { 0x1F324, 0x1F393 }, { 0x1F396, 0x1F397 },
  { 0x1F399, 0x1F39B }, { 0x1F39E, 0x1F3F0 }, { 0x1F3F3, 0x1F3F5 }, { 0x1F3F7, 0x1F3FA },
  { 0x1F400, 0x1F4FD }, { 0x1F4FF, 0x1F53D }, { 0x1F549, 0x1F54E }, { 0x1F550, 0x1F567 },
  { 0x1F56F, 0x1F570 }, { 0x1F573, 0x1F57A }, { 0x1F587, 0x1F587 }, { 0x1F58A, 0x1F58D },
  { 0x1F590, 0x1F590 }, { 0x1F595, 0x1F596 }, { 0x1F5A4, 0x1F5A5 }, { 0x1F5A8, 0x1F5A8 },
  { 0x1F5B1, 0x1F5B2 }, { 0x1F5BC, 0x1F5BC }, { 0x1F5C2, 0x1F5C4 }, { 0x1F5D1, 0x1F5D3 },
  { 0x1F5DC, 0x1F5DE }, { 0x1F5E1, 0x1F5E1 }, { 0x1F5E3, 0x1F5E3 }, { 0x1F5E8, 0x1F5E8 },
  { 0x1F5EF, 0x1F5EF }, { 0x1F5F3, 0x1F5F3 }, { 0x1F5FA, 0x1F64F }, { 0x1F680, 0x1F6C5 },
  { 0x1F6CB, 0x1F6D2 }, { 0x1F6D5, 0x1F6E5 }, { 0x1F6E9, 0x1F6E9 }, { 0x1F6EB, 0x1F6F0 },
  { 0x1F6F3, 0x1F6FF }, { 0x1F7DA, 0x1F7FF }, { 0x1F80C, 0x1F80F }, { 0x1F848, 0x1F84F },
  { 0x1F85A, 0x1F85F }, { 0x1F888, 0x1F88F }, { 0x1F8AE, 0x1F8AF }, { 0x1F8BC, 0x1F8BF },
  { 0x1F8C2, 0x1F8CF }, { 0x1F8D9, 0x1F8FF }, { 0x1F90C, 0x1F93A }, { 0x1F93C, 0x1F945 },
  { 0x1F947, 0x1F9FF }, { 0x1FA58, 0x1FA5F }, { 0x1FA6E, 0x1FAFF }, { 0x1FC00, 0x1FFFD },
};

static gboolean
in_ranges (gunichar c, const Range *r, gsize n)
{
  gsize lo = 0, hi = n;

  while (lo < hi)
    {
      gsize mid = (lo + hi) / 2;
      if (c < r[mid].lo)
        hi = mid;
      else if (c > r[mid].hi)
        lo = mid + 1;
      else
        return TRUE;
    }
  return FALSE;
}

gboolean
sd_unichar_is_white_space (gunichar c)
{
  return (c >= 0x09 && c <= 0x0D) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680
         || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F
         || c == 0x205F || c == 0x3000;
}

static Gcb
gcb (gunichar c)
{
  GUnicodeType type;

  if (c == '\r')
    return GCB_CR;
  if (c == '\n')
    return GCB_LF;
  if (c == 0x200D)
    return GCB_ZWJ;
  if (c >= 0x1F1E6 && c <= 0x1F1FF)
    return GCB_REGIONAL_INDICATOR;
  if (in_ranges (c, prepend, G_N_ELEMENTS (prepend)))
    return GCB_PREPEND;
  if (in_ranges (c, extend_extra, G_N_ELEMENTS (extend_extra)))
    return GCB_EXTEND;
  type = g_unichar_type (c);
  switch (type)
    {
    case G_UNICODE_NON_SPACING_MARK:
    case G_UNICODE_ENCLOSING_MARK:
      return GCB_EXTEND;
    case G_UNICODE_SPACING_MARK:
      return in_ranges (c, spacing_mark_exceptions, G_N_ELEMENTS (spacing_mark_exceptions))
               ? GCB_OTHER : GCB_SPACING_MARK;
    case G_UNICODE_CONTROL:
    case G_UNICODE_FORMAT:
    case G_UNICODE_LINE_SEPARATOR:
    case G_UNICODE_PARAGRAPH_SEPARATOR:
      return GCB_CONTROL;
    default:
      break;
    }
  if (c == 0x0E33 || c == 0x0EB3)
    return GCB_SPACING_MARK;
  switch (g_unichar_break_type (c))
    {
    case G_UNICODE_BREAK_HANGUL_L_JAMO:
      return GCB_L;
    case G_UNICODE_BREAK_HANGUL_V_JAMO:
      return GCB_V;
    case G_UNICODE_BREAK_HANGUL_T_JAMO:
      return GCB_T;
    case G_UNICODE_BREAK_HANGUL_LV_SYLLABLE:
      return GCB_LV;
    case G_UNICODE_BREAK_HANGUL_LVT_SYLLABLE:
      return GCB_LVT;
    default:
      return GCB_OTHER;
    }
}

/* Rules GB3 to GB13 between prev and next; emoji_zwj is TRUE when the cluster ends in
 * ExtPict Extend* ZWJ, ri counts the regional indicators that end it. The Indic conjunct rule GB9c
 * is left out: it only joins three-byte consonants, and the tokenizers treat every cluster of six
 * bytes or more one character at a time, so it changes no output. */
static gboolean
joins (Gcb prev, Gcb next, gboolean emoji_zwj, int ri, gboolean next_pictographic)
{
  if (prev == GCB_CR && next == GCB_LF)
    return TRUE;
  if (prev == GCB_CR || prev == GCB_LF || prev == GCB_CONTROL)
    return FALSE;
  if (next == GCB_CR || next == GCB_LF || next == GCB_CONTROL)
    return FALSE;
  if (prev == GCB_L && (next == GCB_L || next == GCB_V || next == GCB_LV || next == GCB_LVT))
    return TRUE;
  if ((prev == GCB_LV || prev == GCB_V) && (next == GCB_V || next == GCB_T))
    return TRUE;
  if ((prev == GCB_LVT || prev == GCB_T) && next == GCB_T)
    return TRUE;
  if (next == GCB_EXTEND || next == GCB_ZWJ || next == GCB_SPACING_MARK)
    return TRUE;
  if (prev == GCB_PREPEND)
    return TRUE;
  if (emoji_zwj && next_pictographic)
    return TRUE;
  if (prev == GCB_REGIONAL_INDICATOR && next == GCB_REGIONAL_INDICATOR)
    return ri % 2 == 1;
  return FALSE;
}

/* The GB11 state after a character: 1 inside ExtPict Extend*, 2 right after its ZWJ, else 0. */
static int
emoji_state (int state, Gcb g, gboolean pictographic)
{
  if (pictographic)
    return 1;
  if (state == 1 && g == GCB_EXTEND)
    return 1;
  if (state == 1 && g == GCB_ZWJ)
    return 2;
  return 0;
}

gsize
sd_grapheme_end (const char *s, gsize len, gsize start)
{
  const char *p = s + start, *end = s + len;
  gunichar c = g_utf8_get_char (p);
  Gcb prev = gcb (c);
  int emoji = emoji_state (0, prev, in_ranges (c, pictographic, G_N_ELEMENTS (pictographic)));
  int ri = prev == GCB_REGIONAL_INDICATOR;

  p = g_utf8_next_char (p);
  while (p < end)
    {
      gunichar n = g_utf8_get_char (p);
      Gcb next = gcb (n);
      gboolean pict = in_ranges (n, pictographic, G_N_ELEMENTS (pictographic));

      if (!joins (prev, next, emoji == 2, ri, pict))
        break;
      emoji = emoji_state (emoji, next, pict);
      ri = next == GCB_REGIONAL_INDICATOR ? ri + 1 : 0;
      prev = next;
      p = g_utf8_next_char (p);
    }
  return p - s;
}
